"""The union catalogue at scale: the real MARC corpus grown to a million member records over
thirty-odd libraries, loaded end to end, then searched.

    .venv/bin/python bench/catalogue_scale.py [--records 1000000] [--institutions 32]
        [--mean-holders 1.5] [--seed 1] [--cache-dir DIR] [--gzip] [--queries 100]
        [--pg [--pg-url postgres://postgres@127.0.0.1:5432/test] [--search tantivy|postgres]]
        [--profile [N]] [--trace-memory] [--keep] [--json] [CORPUS]

A quick run: `--records 20000` (a couple of minutes).

1. The corpus (cached in `--cache-dir`, default a directory in the system's temp dir; made
   again only when the parameters or the real corpus change). Every record pymarc reads from
   CORPUS (default ../shared/data/marc, as bench/catalogue_load.py reads it: broken files and
   records skipped) that our own pipeline accepts, exact duplicates dropped, is a *base*.
   Works are made from the bases in turn: the first from each base is the real record, every
   further one a distinct work derived from it (title words replaced by words of the corpus's
   own titles, romanised words for the records with original-script fields; another year;
   sometimes another edition; the CJK title, when it has one, with characters replaced by
   characters of the corpus's CJK titles; its own new ISBN-13, or ISSN for a serial, from a
   counter; LCCN, OCLC and other record numbers dropped, since they would join the works).
   Each work is held by a skewed number of libraries (a power law over 1..K with mean
   `--mean-holders`, as CASHL's 4.57M records of 3.1M titles; a few works held by many),
   bigger libraries more often. Each library's copy is its own record with its own local id
   (001, in one of four styles), a holding (852: location, call number; now and then two
   items), and what real catalogues differ in: title case, trailing punctuation, subtitle
   dropped or added, ISBN missing or as ISBN-10, hyphenated, with "(pbk.)" and the like,
   author dates added or dropped, the date written "c2003." or "[2003]". One ISO 2709 file
   (UTF-8) per library, gzipped with `--gzip`. The generator says how many works, records and
   holdings it intended, so what the load stores can be read against it; and it draws the
   fixed query mix from the works it made.
2. A fresh database as bench/catalogue_load.py makes it (SQLite + Tantivy, the embedded
   default; `--pg`: a schema of its own in PostgreSQL, dropped at the end unless `--keep`,
   with `--search postgres` by default), then, in one run, one process:
   - bare: pymarc.MARCReader over the generated files (records/s);
   - pipeline: kede.catalog.ingest.ingest over the same files, no database (records/s);
   - load: `catalogue_load` of each library's file (streamed from disk) inside
     `indexing.deferred()`, libraries one after another: parse, normalise, filter (the
     consortium's scope: the default keeps everything), match and merge into works, store,
     index. Records/s overall and per library, the ratio to bare parsing; RSS sampled as the
     load goes (every batch) and the peak (ru_maxrss; the corpus is generated in a child
     process, so the peak is the load's own);
   - what was stored against what was intended: works, member records, holdings; and how
     well the works match the intended ones (pairs of records put together, precision and
     recall; intended works split; stored works that join several intended ones);
   - search at that size: the fixed mix (one word, two words, a quoted title phrase, an
     author, an ISBN, CJK characters) through `works_search(..., facets=("format",
     "language", "holders"))` (the search page's path: engine, then the works with their
     holder counts from the database) and, as the limit, the bare engine
     (`indexing.engine().search(Query(...))`, the same query, facets and highlighting):
     p50/p95/p99 ms of each, per kind and overall.

`--profile N` runs the Nth library's load under cProfile (the second without N);
`--trace-memory` says where memory grew between the first library's load and the last's
(tracemalloc, which slows the load). Figures are printed (with `--json` one JSON object on
stdout; progress goes to stderr); nothing is asserted: machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gzip
import hashlib
import html
import io
import itertools
import json
import logging
import multiprocessing
import os
import platform
import pstats
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import warnings
from array import array
from bisect import bisect
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import catalogue_load as base_bench  # the load bench's corpus and database helpers

GENERATOR_VERSION = 6
FACETS = ("format", "language", "holders")
KINDS = ("1 word", "2 words", "title phrase", "author", "ISBN", "CJK")
REGIONS = ("R1", "R2", "R3", "R4")
LOCATIONS = ("Main Library", "Stacks", "Reference", "Annex", "Special Collections",
             "East Asian Library", "Law Library", "Offsite storage")  # fmt: skip
QUALIFIERS = ("(pbk.)", "(hbk.)", "(alk. paper)", "(paperback)", "(cloth)", "(v. 1)")
# Fields not carried over from a base record: record numbers that would join derived works
# (LCCN, OCLC and national numbers), ISBN/ISSN (each work gets its own), local fields and the
# library's own holdings (each copy gets its own).
DROPPED = {"001", "003", "005", "010", "015", "016", "019", "020", "022", "024", "027", "035",
           "852", "853", "854", "855", "863", "864", "865", "866", "867", "868", "876", "877",
           "878"}  # fmt: skip
_STOPWORD_TEXT = """
a an the of and or in on for to by with from at as is are its into via le la les un une des du
de et en au aux pour par sur dans der die das den dem ein eine und oder im zu zur zum mit von
vom auf el los las del al por para con su sus il lo gli di da dei della per erratum errata
corrigendum corrigenda addendum retraction retracted
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]{2,}")
_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)
_YEAR = re.compile(r"(?<![0-9])(1[5-9][0-9]{2}|20[0-2][0-9])(?![0-9])")


def memory() -> dict[str, float]:
    """This process's resident set size now (Linux), in MB: all of it, the anonymous part
    (the heap: what a leak grows) and the file-backed part (mapped files, such as the search
    index's segments, which the kernel can drop)."""
    out = {"rss": 0.0, "anon": 0.0, "file": 0.0}
    names = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] in names:
                    out[names[parts[0]]] = round(int(parts[1]) / 1024, 1)
    except OSError:
        pass
    return out


def rss_mb() -> float:
    return memory()["rss"]


def peak_rss_mb() -> float:
    """ru_maxrss: the process's peak resident set size (kB on Linux), in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


# ---- ISO 2709 --------------------------------------------------------------------------------


def data_field(ind1: str, ind2: str, subfields: list[tuple[str, str]]) -> bytes:
    body = "".join(f"\x1f{code}{value}" for code, value in subfields)
    return f"{ind1}{ind2}{body}\x1e".encode()


def control_field(data: str) -> bytes:
    return f"{data}\x1e".encode()


def iso2709(leader: str, fields: list[tuple[str, bytes]]) -> bytes:
    """One record, UTF-8 (leader/09 "a"), its fields in the order given."""
    directory, offset = [], 0
    for tag, data in fields:
        directory.append(f"{tag}{len(data):04d}{offset:05d}")
        offset += len(data)
    head = ("".join(directory) + "\x1e").encode("ascii")
    base = 24 + len(head)
    lead = f"{base + offset + 1:05d}{leader[5:9]}a22{base:05d}{leader[17:20]}4500"
    return lead.encode("ascii") + head + b"".join(d for _t, d in fields) + b"\x1d"


# ---- the bases -------------------------------------------------------------------------------


@dataclass
class Base:
    """A real record taken apart into what stays and what each work or copy varies."""

    leader: str
    static: list[tuple[str, bytes]]
    fixed: str  # 008, 40 characters
    year: int
    title_ind: tuple[str, str]
    title: list[tuple[str, str]]  # 245 subfields
    author: tuple[str, str, str, list[tuple[str, str]]] | None  # tag, indicators, subfields
    imprints: list[tuple[str, str, str, list[tuple[str, str]]]]
    edition: str
    call_number: str
    vernacular: tuple[str, str, list[tuple[str, str]]] | None  # 880 linked to 245
    book: bool
    serial: bool
    had_isbn: bool
    romanised: bool
    key: str = ""
    words: list[str] = field(default_factory=list)


def _ascii(text: str, size: int) -> str:
    text = "".join(c if " " <= c <= "~" else " " for c in text)
    return (text + " " * size)[:size]


def _subfields(f) -> list[tuple[str, str]]:
    return [(s.code, s.value) for s in f.subfields if s.code and s.value is not None]


def _significant(word: str) -> bool:
    return len(word) >= 3 and word.isalpha() and word.lower() not in STOPWORDS


def _core(token: str) -> tuple[str, str, str]:
    m = _EDGES.match(token)
    assert m is not None
    return m.group(1), m.group(2), m.group(3)


def base_from(record) -> Base | None:
    from kede.catalog.normalise import fold_text, repair_mojibake

    leader = str(record.leader)
    if len(leader) != 24 or not leader.isascii():
        return None
    title_field = record.get("245")
    if title_field is None or not any(
        s.code == "a" and s.value.strip() for s in title_field.subfields
    ):
        return None
    fixed, static, imprints = "", [], []
    author = vernacular = None
    edition = call_number = ""
    had_isbn = bool(record.get_fields("020"))
    serial = leader[7] == "s"
    for f in record.fields:
        tag = f.tag
        if len(tag) != 3 or not tag.isascii() or not tag.isalnum():
            continue
        if tag in DROPPED or tag[0] == "9":
            continue
        if f.is_control_field():
            if tag == "008":
                fixed = f.data or ""
            elif tag < "010" and f.data:
                static.append((tag, control_field(f.data)))
            continue
        subs = _subfields(f)
        if tag == "245":
            continue
        if tag in ("100", "110", "111") and author is None:
            author = (tag, f.indicator1 or " ", f.indicator2 or " ", subs)
            continue
        if tag == "250" and not edition:
            edition = " ".join(v for c, v in subs if c == "a").strip()
            continue
        if tag in ("260", "264"):
            imprints.append((tag, f.indicator1 or " ", f.indicator2 or " ", subs))
            continue
        if tag == "880" and vernacular is None and (f.get("6") or "").startswith("245"):
            vernacular = (f.indicator1 or " ", f.indicator2 or " ", subs)
            continue
        if tag in ("050", "090") and not call_number:
            call_number = " ".join(v for c, v in subs if c in "ab").strip()
        encoded = data_field(f.indicator1 or " ", f.indicator2 or " ", subs)
        if len(encoded) < 9000:
            static.append((tag, encoded))
    years = [fixed[7:11]] if fixed[7:11].isdigit() else []
    years += [
        y for _t, _i1, _i2, subs in imprints for c, v in subs if c == "c" for y in _YEAR.findall(v)
    ]
    year = int(years[0]) if years else 1990
    year = min(max(year, 1500), 2024)
    title = _subfields(title_field)
    text = " ".join(v for c, v in title if c in "ab")
    title_proper = " ".join(v for c, v in title if c == "a")
    words = [w for w in (_core(t)[1] for t in text.split()) if _significant(w)]
    return Base(
        leader=leader[:5] + ("n" if leader[5] == "d" else leader[5]) + leader[6:],
        static=static,
        fixed=_ascii(fixed, 40) if fixed else "",
        year=year,
        title_ind=(title_field.indicator1 or " ", title_field.indicator2 or " "),
        title=title,
        author=author,
        imprints=imprints,
        edition=edition,
        call_number=call_number,
        vernacular=vernacular,
        book=leader[6] in "at" and leader[7] in "acdm",
        serial=serial,
        had_isbn=had_isbn,
        romanised=vernacular is not None,
        # The corpus holds one record in several files, some double-encoded or HTML-escaped;
        # and records whose titles differ only in the subtitle, which a copy may drop: one
        # base for each title proper and year.
        key=f"{fold_text(html.unescape(repair_mojibake(title_proper)))} {year}",
        words=words,
    )


def read_bases(corpus: Path) -> tuple[list[Base], dict]:
    """Every clean real record as a base (pymarc once; our pipeline must accept it), exact
    duplicates dropped; and the counts."""
    import pymarc

    from kede.catalog.ingest import ingest
    from kede.catalog.ingest.readers import FORMAT_ISO2709

    files = base_bench.read_corpus(corpus, None)
    parsed: list[Base] = []
    read = 0
    quiet = io.StringIO()
    for _name, kind, data in files:
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                if kind == FORMAT_ISO2709:
                    records = list(pymarc.MARCReader(data, to_unicode=True, permissive=True))
                else:
                    records = pymarc.parse_xml_to_array(io.BytesIO(data))
        except Exception:  # noqa: S112 — a file pymarc gives up on gives no bases
            continue
        for record in records:
            if record is None:
                continue
            read += 1
            try:
                base = base_from(record)
            except Exception:  # noqa: S112 — a record too odd to take apart: not a base
                continue
            if base is not None:
                parsed.append(base)
    seen: set[str] = set()
    unique = []
    for base in parsed:
        if base.key not in seen:
            seen.add(base.key)
            unique.append(base)
    # Only what our pipeline accepts as it will be written (so intended counts are meant).
    probe = b"".join(
        iso2709(b.leader, sorted(_probe_fields(b, k), key=lambda f: f[0]))
        for k, b in enumerate(unique)
    )
    accepted = {
        int(o.local_id[4:]) for o in ingest(probe) if o.accepted and o.local_id.startswith("base")
    }
    bases = [b for k, b in enumerate(unique) if k in accepted]
    counts = {
        "files": len(files),
        "records_read": read,
        "taken_apart": len(parsed),
        "unique": len(unique),
        "bases": len(bases),
        "bases_with_cjk_title": sum(1 for b in bases if _cjk_of(b)),
    }
    return bases, counts


def _probe_fields(base: Base, k: int) -> list[tuple[str, bytes]]:
    fields = [*base.static, ("001", control_field(f"base{k}"))]
    if base.fixed:
        fields.append(("008", control_field(base.fixed)))
    fields.append(("245", data_field(*base.title_ind, base.title)))
    if base.author:
        fields.append((base.author[0], data_field(*base.author[1:3], base.author[3])))
    return fields


def _cjk_of(base: Base) -> str:
    """The base's CJK title: its 880 linked to 245, or a 245 in CJK."""
    parts = base.vernacular[2] if base.vernacular else base.title
    text = " ".join(v for c, v in parts if c in "ab")
    return text if _CJK.search(text) else ""


# ---- the generator ---------------------------------------------------------------------------


def holder_weights(k: int, mean: float) -> list[float]:
    """P(n holders) ∝ n^-a over 1..k, a chosen so the mean is `mean`."""
    mean = min(max(mean, 1.0), (k + 1) / 2)
    lo, hi = 0.0, 12.0
    for _ in range(80):
        a = (lo + hi) / 2
        w = [n**-a for n in range(1, k + 1)]
        m = sum(n * x for n, x in zip(range(1, k + 1), w, strict=True)) / sum(w)
        lo, hi = (a, hi) if m > mean else (lo, a)
    total = sum(w)
    return [x / total for x in w]


def library_codes(k: int) -> list[str]:
    return [f"LIB{i + 1:02d}" for i in range(k)]


def local_id(i: int, code: str, seq: int) -> str:
    """A library's own record number, in one of four styles (III, Alma, Koha, a prefix)."""
    style = i % 4
    if style == 0:
        return f"b{1_000_000 + seq}"
    if style == 1:
        return f"99{seq:09d}{3000 + i}"
    if style == 2:
        return str(100_000 + seq)
    return f"{code}-{seq:07d}"


def seq_of(i: int, code: str, local: str) -> int | None:
    try:
        style = i % 4
        if style == 0:
            return int(local[1:]) - 1_000_000
        if style == 1:
            return int(local[2:11])
        if style == 2:
            return int(local) - 100_000
        return int(local.rsplit("-", 1)[1])
    except ValueError:
        return None


def isbn13(counter: int) -> str:
    from stdnum import ean

    body = f"978{counter:09d}"
    return body + ean.calc_check_digit(body)


def issn_of(counter: int) -> str:
    from stdnum import issn

    body = f"{counter:07d}"
    return f"{body[:4]}-{body[4:]}{issn.calc_check_digit(body)}"


class Vocabulary:
    """Title words of the corpus (weighted by how often they occur), romanised words apart,
    and the CJK characters of its CJK titles."""

    def __init__(self, bases: list[Base]) -> None:
        general: Counter[str] = Counter()
        roman: Counter[str] = Counter()
        chars: Counter[str] = Counter()
        for b in bases:
            target = roman if b.romanised else general
            target.update(w.lower() for w in b.words if w.isascii() and len(w) >= 4)
            chars.update(_CJK.findall(_cjk_of(b)))
        self.general = self._pack(general)
        self.roman = self._pack(roman or general)
        self.chars = sorted(chars) or ["书"]

    @staticmethod
    def _pack(counts: Counter[str]) -> tuple[list[str], list[int]]:
        words = sorted(counts)
        return words, list(itertools.accumulate(counts[w] for w in words))

    def word(self, rng: random.Random, roman: bool, *, uniform: bool) -> str:
        words, cumulative = self.roman if roman else self.general
        if uniform:
            return words[rng.randrange(len(words))]
        return words[bisect(cumulative, rng.random() * cumulative[-1])]


def _replace_word(token: str, word: str) -> str:
    lead, core, trail = _core(token)
    if core[:1].isupper():
        word = word.upper() if core.isupper() and len(core) > 1 else word.capitalize()
    return f"{lead}{word}{trail}"


def vary_words(
    text: str, rng: random.Random, vocab: Vocabulary, roman: bool, *, force: bool, share: float
) -> str:
    """Some significant words replaced; with `force` at least one of the first two (so the
    derived work's title keys differ from the base's)."""
    if _CJK.search(text) and " " not in text.strip():
        return vary_cjk(text, rng, vocab) if force or rng.random() < share else text
    tokens = text.split(" ")
    places = [i for i, t in enumerate(tokens) if _significant(_core(t)[1])]
    if not places:
        if force:
            tokens.insert(0, vocab.word(rng, roman, uniform=True).capitalize())
        return " ".join(tokens)
    chosen = {i for i in places if rng.random() < share}
    if force:
        first = rng.choice(places[:2])
        tokens[first] = _replace_word(tokens[first], vocab.word(rng, roman, uniform=True))
        chosen.discard(first)
    for i in sorted(chosen):
        tokens[i] = _replace_word(tokens[i], vocab.word(rng, roman, uniform=False))
    return " ".join(tokens)


def vary_cjk(text: str, rng: random.Random, vocab: Vocabulary) -> str:
    places = [m.start() for m in _CJK.finditer(text)]
    if not places:
        return text
    chars = list(text)
    for at in rng.sample(places, min(len(places), 1 + (rng.random() < 0.5))):
        chars[at] = vocab.chars[rng.randrange(len(vocab.chars))]
    return "".join(chars)


@dataclass
class Work:
    number: int
    base: Base
    title: list[tuple[str, str]]
    vernacular: list[tuple[str, str]] | None
    year: int
    edition: str
    isbn: str
    issn: str
    birth: int
    isbn_shown: bool = False  # some copy carries the ISBN (else no reader could search it)


def make_work(number: int, base: Base, derived: bool, rng, vocab, counters) -> Work:
    if derived:
        first_a = True
        title = []
        for code, value in base.title:
            if code == "a" and first_a:
                value = vary_words(value, rng, vocab, base.romanised, force=True, share=0.45)
                first_a = False
            elif code in "bnp":
                value = vary_words(value, rng, vocab, base.romanised, force=False, share=0.3)
            title.append((code, value))
        vernacular = None
        if base.vernacular:
            vernacular = [
                (c, vary_cjk(v, rng, vocab) if c in "ab" else v) for c, v in base.vernacular[2]
            ]
        year = min(max(base.year + rng.randint(-25, 25), 1500), 2024)
        edition = base.edition
        if rng.random() < 0.15:
            n = rng.randint(2, 6)
            edition = f"{n}{'nd' if n == 2 else 'rd' if n == 3 else 'th'} ed."
    else:
        title = list(base.title)
        vernacular = list(base.vernacular[2]) if base.vernacular else None
        year, edition = base.year, base.edition
    isbn = issn = ""
    if base.serial:
        counters["issn"] += 1
        issn = issn_of(counters["issn"])
    elif base.book and rng.random() < (0.92 if base.had_isbn else 0.5):
        counters["isbn"] += 1
        isbn = isbn13(counters["isbn"])
    return Work(number, base, title, vernacular, year, edition, isbn, issn,
                birth=year - rng.randint(25, 75))  # fmt: skip


def _case(text: str, how: float) -> str:
    if how < 0.06:
        return text.upper()
    if how < 0.14:
        return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))
    if how < 0.19:
        return text.lower()
    return text


def _punctuated(text: str, rng: random.Random) -> str:
    return text.rstrip(" /:;.,=") + rng.choice(("", " /", " :", ".", " /", " :"))


def copy_record(work: Work, i: int, code: str, seq: int, rng, vocab) -> bytes:
    """One library's record of a work, with the differences real catalogues show."""
    base = work.base
    fields = list(base.static)
    fields.append(("001", control_field(local_id(i, code, seq))))
    fields.append(("003", control_field(code)))
    fields.append(
        ("005", control_field(f"20{rng.randint(10, 24)}0{rng.randint(1, 9)}1512000" + "0.0"))
    )
    entered = f"{rng.randint(0, 24):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    fixed = base.fixed or f"000000s{work.year}    xx " + " " * 21 + "d"
    if base.serial and fixed[6] in "cdu":
        fixed = f"{entered}{fixed[6]}{work.year}{fixed[11:]}"
    else:
        fixed = f"{entered}s{work.year}    {fixed[15:]}"
    fields.append(("008", control_field(fixed[:40])))
    if work.isbn and rng.random() >= 0.12:
        work.isbn_shown = True
        number = work.isbn
        style = rng.random()
        if style < 0.3:
            from stdnum import isbn as stdisbn

            number = stdisbn.to_isbn10(number)
        elif style < 0.5:
            from stdnum import isbn as stdisbn

            number = stdisbn.format(number)
        subs = [("a", number)]
        if rng.random() < 0.35:
            qualifier = rng.choice(QUALIFIERS)
            if rng.random() < 0.5:
                subs = [("a", f"{number} {qualifier}")]
            else:
                subs.append(("q", qualifier.strip("()")))
        fields.append(("020", data_field(" ", " ", subs)))
    if work.issn:
        fields.append(("022", data_field("0", " ", [("a", work.issn)])))
    if base.author:
        tag, ind1, ind2, subs = base.author
        subs = list(subs)
        has_dates = any(c == "d" for c, _v in subs)
        if has_dates and rng.random() < 0.25:
            subs = [(c, v) for c, v in subs if c != "d"]
        elif not has_dates and tag == "100" and rng.random() < 0.25:
            subs = [*subs, ("d", f"{work.birth}-")]
        subs = [(c, v.rstrip(" ,.") + rng.choice((",", ".", ""))) if c == "a" else (c, v)
                for c, v in subs]  # fmt: skip
        fields.append((tag, data_field(ind1, ind2, subs)))
    how = rng.random()
    title = []
    has_b = any(c == "b" for c, _v in work.title)
    drop_b = has_b and rng.random() < 0.15
    for code, value in work.title:
        if code == "b" and drop_b:
            continue
        if code in "abnp":
            value = _case(value, how)
        if code == "a":
            value = _punctuated(value, rng)
        title.append((code, value))
        if code == "a" and not has_b and rng.random() < 0.06:
            words = [vocab.word(rng, base.romanised, uniform=False) for _ in range(2)]
            title.append(("b", " ".join(words) + " /"))
    fields.append(("245", data_field(*base.title_ind, title)))
    if work.edition:
        fields.append(("250", data_field(" ", " ", [("a", work.edition)])))
    written = rng.choice((f"{work.year}.", f"c{work.year}.", f"[{work.year}]", f"{work.year}"))
    imprints = base.imprints or [("260", " ", " ", [("c", "")])]
    for tag, ind1, ind2, subs in imprints:
        subs = [(c, written if c == "c" else v) for c, v in subs]
        fields.append((tag, data_field(ind1, ind2, subs)))
    if work.vernacular is not None and base.vernacular is not None:
        fields.append(("880", data_field(base.vernacular[0], base.vernacular[1], work.vernacular)))
    call = base.call_number or f"Z{1000 + work.number % 9000}"
    # every third library has a local scheme
    call = f"{work.number % 9000 + 1000}/{seq % 97}" if i % 3 == 2 else f"{call} {work.year}"
    items = 2 if rng.random() < 0.05 else 1
    for _ in range(items):
        location = LOCATIONS[(i + rng.randrange(3)) % len(LOCATIONS)]
        fields.append(("852", data_field(" ", " ", [("a", code), ("b", location), ("h", call)])))
    fields.sort(key=lambda f: f[0])
    return iso2709(base.leader, fields)


def _queries_for(work: Work, rng: random.Random) -> dict[str, str]:
    """The queries a reader might type for this work."""
    out: dict[str, str] = {}
    text = " ".join(v for c, v in work.title if c in "ab")
    words = [w for w in (_core(t)[1] for t in text.split()) if _significant(w) and len(w) >= 4]
    if words and not _CJK.search(text):
        out["1 word"] = rng.choice(words)
    if len(set(words)) >= 2:
        out["2 words"] = " ".join(rng.sample(sorted(set(words)), 2))
    a = next((v for c, v in work.title if c == "a"), "")
    tokens = [_core(t)[1] for t in a.split()]
    tokens = [t for t in tokens if t]
    if len(tokens) >= 3 and not _CJK.search(a):
        start = rng.randrange(len(tokens) - 2)
        out["title phrase"] = '"' + " ".join(tokens[start : start + 3]) + '"'
    if work.base.author and work.base.author[0] == "100":
        name = next((v for c, v in work.base.author[3] if c == "a"), "")
        surname = name.split(",")[0].strip(" .,")
        if surname.isalpha() and len(surname) >= 3:
            out["author"] = f"author:{surname}"
    if work.isbn and work.isbn_shown:
        out["ISBN"] = work.isbn
    cjk = " ".join(v for c, v in (work.vernacular or work.title) if c in "ab")
    runs = _CJK_RUN.findall(cjk)
    if runs:
        run = rng.choice(runs)
        size = min(len(run), rng.choice((2, 2, 3, 4)))
        start = rng.randrange(len(run) - size + 1)
        out["CJK"] = run[start : start + size]
    return out


def _create(path: Path):
    """A library's file, open for writing (closed by the generator at the end)."""
    if path.suffix == ".gz":
        return gzip.open(path, "wb", compresslevel=1)
    return open(path, "wb")


def generate(params: dict, corpus: Path, directory: Path) -> None:
    """Write the libraries' files and the manifest (run in a child process)."""
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    bases, base_counts = read_bases(corpus)
    read = base_counts["records_read"]
    log(f"generator: {base_counts['bases']:,} bases from {read:,} real records")
    vocab = Vocabulary(bases)
    rng = random.Random(params["seed"])
    pick = random.Random(params["seed"] * 7919 + 1)  # the query sample: its own stream
    k, target = params["institutions"], params["records"]
    codes = library_codes(k)
    weights = holder_weights(k, params["mean_holders"])
    holder_cum = list(itertools.accumulate(weights))
    size = [1 / (i + 1) ** 0.6 for i in range(k)]  # big libraries hold more
    size_cum = list(itertools.accumulate(size))
    suffix = ".mrc.gz" if params["gzip"] else ".mrc"
    outs = [_create(directory / f"{code}{suffix}") for code in codes]
    works_of = [array("I") for _ in range(k)]
    held = Counter()
    reservoir: dict[str, list[str]] = {kind: [] for kind in KINDS}
    seen_kind: Counter[str] = Counter()
    wanted = params["queries"]
    counters = Counter(isbn=200_000_000, issn=1_000_000)
    records = works = cjk_works = isbn_works = 0
    try:
        while records < target:
            base = bases[works % len(bases)]
            work = make_work(works, base, works >= len(bases), rng, vocab, counters)
            n = min(bisect(holder_cum, rng.random() * holder_cum[-1]) + 1, k, target - records)
            if n == 1:
                chosen = [min(bisect(size_cum, rng.random() * size_cum[-1]), k - 1)]
            else:  # weighted sampling without replacement (Efraimidis–Spirakis)
                keyed = sorted(range(k), key=lambda i: -(rng.random() ** (1 / size[i])))
                chosen = sorted(keyed[:n])
            held[n] += 1
            for i in chosen:
                seq = len(works_of[i])
                works_of[i].append(works)
                outs[i].write(copy_record(work, i, codes[i], seq, rng, vocab))
            records += n
            cjk_works += bool(work.vernacular and _CJK.search(str(work.vernacular))) or bool(
                _CJK.search(str(work.title))
            )
            isbn_works += bool(work.isbn)
            for kind, q in _queries_for(work, pick).items():
                seen_kind[kind] += 1
                bucket = reservoir[kind]
                if len(bucket) < wanted:
                    bucket.append(q)
                elif (j := pick.randrange(seen_kind[kind])) < wanted:
                    bucket[j] = q
            works += 1
            if works % 100_000 == 0:
                log(f"generator: {works:,} works, {records:,} records")
    finally:
        for out in outs:
            out.close()
    for i, code in enumerate(codes):
        (directory / f"{code}.works").write_bytes(works_of[i].tobytes())
    manifest = {
        "params": params,
        "generator_version": GENERATOR_VERSION,
        "bases": base_counts,
        "libraries": [
            {
                "code": c,
                "file": f"{c}{suffix}",
                "records": len(works_of[i]),
                "bytes": (directory / f"{c}{suffix}").stat().st_size,
            }
            for i, c in enumerate(codes)
        ],
        "intended": {
            "works": works,
            "records": records,
            "holdings": records,
            "cjk_works": cjk_works,
            "works_with_isbn": isbn_works,
            "records_per_work": round(records / max(works, 1), 3),
            "holders_histogram": {str(n): held[n] for n in sorted(held)},
        },
        "queries": reservoir,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))


def corpus_files(params: dict, corpus: Path, cache_dir: Path) -> tuple[Path, dict, bool]:
    """The generated files for these parameters: from the cache, or made now."""
    signature = [
        (str(p.relative_to(corpus)), p.stat().st_size)
        for p in sorted(corpus.rglob("*"))
        if p.is_file()
    ]
    key = hashlib.sha256(
        json.dumps([params, GENERATOR_VERSION, signature], sort_keys=True).encode()
    ).hexdigest()[:16]
    directory = cache_dir / f"kede-scale-{params['records']}-{params['institutions']}-{key}"
    manifest = directory / "manifest.json"
    if manifest.exists():
        return directory, json.loads(manifest.read_text()), True
    partial = directory.with_name(directory.name + f".partial-{os.getpid()}")
    partial.mkdir(parents=True, exist_ok=True)
    # A child process: the generator's memory stays out of this process's peak RSS.
    child = multiprocessing.get_context("fork").Process(
        target=generate, args=(params, corpus, partial)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise SystemExit(f"the generator failed (exit code {child.exitcode})")
    if directory.exists():
        shutil.rmtree(directory)
    partial.rename(directory)
    return directory, json.loads(manifest.read_text()), False


# ---- measuring -------------------------------------------------------------------------------


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def bare_parse(paths: list[Path]) -> tuple[int, float]:
    import pymarc

    records, start = 0, time.perf_counter()
    for path in paths:
        with _open(path) as fh:
            records += sum(
                1 for r in pymarc.MARCReader(fh, to_unicode=True, permissive=True) if r is not None
            )
    return records, time.perf_counter() - start


def pipeline_only(paths: list[Path]) -> tuple[int, int, float]:
    from kede.catalog.ingest import IngestReport, ingest

    read = accepted = 0
    start = time.perf_counter()
    for path in paths:
        report = IngestReport()
        with _open(path) as fh:
            for outcome in ingest(fh, report=report, source=path.name):
                accepted += outcome.accepted
        read += report.read
    return read, accepted, time.perf_counter() - start


def make_libraries(codes: list[str]) -> list:
    from kede.catalog import services
    from kede.consortium import services as consortium

    centre = consortium.consortium_ensure(code="bench", name="Bench consortium")
    for n, region in enumerate(REGIONS):
        consortium.region_add(consortium=centre, code=region, name=f"Region {n + 1}", group="east")
    sources = []
    for i, code in enumerate(codes):
        institution = consortium.institution_add(
            code=code, name=f"{code} library", region_code=REGIONS[i % len(REGIONS)],
            type="research_university",
        )  # fmt: skip
        sources.append(services.source_add(institution=institution, name="catalogue"))
    return sources


class Sampler:
    """RSS and progress as a load goes: a sample every batch, a line on stderr now and then."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.start = time.perf_counter()
        # (records read, seconds, RSS MB, of which anonymous MB)
        self.samples: list[tuple[int, float, float, float]] = []
        self.next_line = 0.0

    def at(self, records_so_far: int) -> None:
        now = time.perf_counter() - self.start
        mem = memory()
        self.samples.append((records_so_far, round(now, 2), mem["rss"], mem["anon"]))
        if now >= self.next_line:
            self.next_line = now + 30
            rate = records_so_far / now if now else 0
            log(
                f"load: {records_so_far:,}/{self.total:,} records, {rate:,.0f}/s, RSS "
                f"{mem['rss']:.0f} MB ({mem['anon']:.0f} anonymous), load average {load_average()}"
            )

    def summary(self) -> dict:
        if not self.samples:
            return {}
        tenths = []
        for tenth in range(1, 11):
            goal = self.total * tenth / 10
            found = next((s for s in self.samples if s[0] >= goal), self.samples[-1])
            tenths.append({"records": found[0], "s": found[1], "rss_mb": found[2],
                           "anon_mb": found[3]})  # fmt: skip
        rss = [s[2] for s in self.samples]
        anon = [s[3] for s in self.samples]
        return {
            "samples": len(self.samples),
            "first_mb": rss[0],
            "max_mb": max(rss),
            "last_mb": rss[-1],
            "anon_first_mb": anon[0],
            "anon_max_mb": max(anon),
            "anon_last_mb": anon[-1],
            "at_tenths": tenths,
        }


class _Comparisons:
    """Counts the record-to-record comparisons a load makes: what grows with the catalogue
    while parsing, storing and indexing a record stay the same."""

    def __init__(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def counting(self):
        from kede.catalog import works

        compare = works.match

        def counted(a, b):
            self.count += 1
            return compare(a, b)

        works.match = counted
        try:
            yield self
        finally:
            works.match = compare


def load_all(
    sources, directory: Path, manifest: dict, *, profile: int, trace_memory: bool = False
) -> dict:
    from kede.catalog import indexing, services

    libraries = manifest["libraries"]
    sampler = Sampler(sum(lib["records"] for lib in libraries))
    per_library = []
    loaded = 0
    profiler = None
    rss_before = rss_mb()
    if trace_memory:
        tracemalloc.start(8)
    for i, (source, lib) in enumerate(zip(sources, libraries, strict=True)):
        if profile and i == profile - 1:
            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        offset = loaded
        comparisons = _Comparisons()
        with comparisons.counting(), indexing.deferred(), _open(directory / lib["file"]) as fh:
            run = services.catalogue_load(
                source=source, data=fh, file_name=lib["file"],
                progress=lambda n, offset=offset: sampler.at(offset + n),
            )  # fmt: skip
        seconds = time.perf_counter() - start
        if profiler is not None and i == profile - 1:
            profiler.disable()
        read = run.report.get("read", 0)
        loaded += read
        per_library.append({
            "library": lib["code"],
            "records": read,
            "accepted": run.report.get("outcomes", {}).get("accepted", 0),
            "status": run.status,
            "error": run.error,
            "works_created": run.works_created,
            "works_merged": run.works_merged,
            "seconds": round(seconds, 2),
            "records_per_s": round(read / seconds, 1) if seconds else None,
            "comparisons_per_record": round(comparisons.count / read, 1) if read else None,
        })  # fmt: skip
        if trace_memory and i == 0:
            first_snapshot = tracemalloc.take_snapshot()
        log(f"load {lib['code']}: {read:,} records in {seconds:.1f} s "
            f"({read / seconds if seconds else 0:,.0f}/s), {run.works_created:,} works created, "
            f"{comparisons.count / (read or 1):.1f} comparisons per record, "
            f"RSS {rss_mb():.0f} MB")  # fmt: skip
    total_s = sum(row["seconds"] for row in per_library)
    rates = sorted(row["records_per_s"] for row in per_library if row["records_per_s"])
    out = {
        "per_library": per_library,
        "records": loaded,
        "seconds": round(total_s, 2),
        "records_per_s": round(loaded / total_s, 1) if total_s else None,
        "spread_records_per_s": {
            "min": rates[0],
            "median": rates[len(rates) // 2],
            "max": rates[-1],
        }
        if rates
        else {},
        "rss_before_mb": round(rss_before, 1),
        "rss": sampler.summary(),
        "peak_rss_mb": peak_rss_mb(),
    }
    if trace_memory:
        growth = tracemalloc.take_snapshot().compare_to(first_snapshot, "traceback")
        tracemalloc.stop()
        out["memory_growth"] = [
            {"kb": round(stat.size_diff / 1024), "blocks": stat.count_diff,
             "where": [f"{frame.filename}:{frame.lineno}" for frame in stat.traceback]}
            for stat in growth[:15]
        ]  # fmt: skip
    if profiler is not None:
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats("kede", 35)
        out["profile"] = buffer.getvalue()
        # The raw profile beside the corpus, for pstats' callers and callees.
        profiler.dump_stats(directory / "load.prof")
        out["profile_file"] = str(directory / "load.prof")
    return out


def stored_vs_intended(sources, directory: Path, manifest: dict) -> dict:
    """Works stored against works intended, and how the records were grouped."""
    from kede.catalog.models import CatalogRecord, Holding, Work

    libraries = manifest["libraries"]
    by_source = {s.id: i for i, s in enumerate(sources)}
    intended_of = []
    for lib in libraries:
        arr = array("I")
        arr.frombytes((directory / f"{lib['code']}.works").read_bytes())
        intended_of.append(arr)
    pairs: Counter[tuple[int, int]] = Counter()
    unknown = 0
    rows = CatalogRecord.objects.values_list("source_id", "local_id", "work_id").iterator(
        chunk_size=20_000
    )
    for source_id, local, work_id in rows:
        i = by_source.get(source_id)
        seq = seq_of(i, libraries[i]["code"], local) if i is not None else None
        if seq is None or not 0 <= seq < len(intended_of[i]):
            unknown += 1
            continue
        pairs[(intended_of[i][seq], work_id)] += 1
    per_intended: Counter[int] = Counter()
    per_stored: Counter[int] = Counter()
    parts_of_intended: Counter[int] = Counter()
    parts_of_stored: Counter[int] = Counter()
    for (intended, stored), n in pairs.items():
        per_intended[intended] += n
        per_stored[stored] += n
        parts_of_intended[intended] += 1
        parts_of_stored[stored] += 1

    def c2(n: int) -> int:
        return n * (n - 1) // 2

    true_pairs = sum(c2(n) for n in per_intended.values())
    found_pairs = sum(c2(n) for n in per_stored.values())
    both = sum(c2(n) for n in pairs.values())
    intended = manifest["intended"]
    # The worst cases, to read: stored works that join the most records of other works, and
    # intended works spread over the most stored works.
    false_pairs: Counter[int] = Counter()
    for (_intended, stored), n in pairs.items():
        false_pairs[stored] -= c2(n)
    for stored, n in per_stored.items():
        false_pairs[stored] += c2(n)
    worst_joined = [w for w, n in false_pairs.most_common(3) if n > 0]
    worst_split = [w for w, n in parts_of_intended.most_common(3) if n > 1]
    examples = {"joined": {}, "split": {}}
    wanted = set(worst_joined)
    for (intended_work, stored), _n in pairs.items():
        if intended_work in worst_split:
            wanted.add(stored)
    rows = CatalogRecord.objects.filter(work_id__in=wanted).values_list(
        "work_id", "source_id", "local_id", "match"
    )
    for work_id, source_id, local, match in rows:
        i = by_source[source_id]
        intended_work = intended_of[i][seq_of(i, libraries[i]["code"], local)]
        line = (
            f"{libraries[i]['code']} intended #{intended_work} stored #{work_id}: "
            f"{match.get('title', '')[:70]!r} {match.get('year')} "
            f"isbn {','.join(match.get('isbns', []))}"
        )
        if work_id in worst_joined:
            examples["joined"].setdefault(str(work_id), []).append(line)
        if intended_work in worst_split:
            examples["split"].setdefault(str(intended_work), []).append(line)
    for group in examples.values():
        for key, lines in group.items():
            group[key] = sorted(set(lines), key=lambda t: t.split(": ", 1)[1])[:8]
    return {
        "examples": examples,
        "works": Work.objects.count(),
        "works_intended": intended["works"],
        "member_records": CatalogRecord.objects.count(),
        "member_records_intended": intended["records"],
        "holdings": Holding.objects.count(),
        "holdings_intended": intended["holdings"],
        "records_not_traced": unknown,
        "intended_works_split": sum(1 for n in parts_of_intended.values() if n > 1),
        "stored_works_joining_several": sum(1 for n in parts_of_stored.values() if n > 1),
        "pairs": {
            "intended": true_pairs,
            "stored": found_pairs,
            "precision": round(both / found_pairs, 4) if found_pairs else None,
            "recall": round(both / true_pairs, 4) if true_pairs else None,
        },
    }


def search_latency(queries: dict[str, list[str]], warmup: int) -> dict:
    from kede.catalog import indexing
    from kede.catalog.search import Query
    from kede.catalog.selectors import holdings_by_work, works_search

    search = indexing.engine()

    def bare(q: str):
        return search.search(Query(text=q, facets=FACETS, limit=20, highlight=True))

    def page(q: str):
        found = works_search(q, facets=FACETS)
        # each hit's holdings, in one query for the page, as the API shows them
        holdings = holdings_by_work([w.id for w in found.works])
        for work in found.works:  # what the page shows of each hit
            _ = (
                work.title,
                work.holder_count,
                [h.institution.code for h in holdings.get(work.id, ())],
            )
        return found

    mix = [(kind, q) for kind in KINDS for q in queries.get(kind, [])]
    for _kind, q in mix[:: max(1, len(mix) // max(warmup, 1))][:warmup]:
        bare(q)
        page(q)
    samples: dict[str, dict[str, list[float]]] = {"works_search": {}, "engine": {}}
    found: Counter[str] = Counter()
    totals: dict[str, list[int]] = {}
    for n, (kind, q) in enumerate(mix):
        order = (("engine", bare), ("works_search", page))
        for name, call in order if n % 2 else order[::-1]:
            t0 = time.perf_counter()
            result = call(q)
            samples[name].setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            if name == "engine":
                found[kind] += bool(result.total)
                totals.setdefault(kind, []).append(result.total)
    out: dict = {"queries": len(mix), "facets": list(FACETS),
                 "holdings_by_work": holdings_by_work is not None}  # fmt: skip
    for name, by_kind in samples.items():
        every = [ms for values in by_kind.values() for ms in values]
        out[name] = {
            "all": base_bench.percentiles(every) if every else {},
            "by_kind": {k: base_bench.percentiles(v) for k, v in by_kind.items()},
        }
    out["found_something"] = {k: round(found[k] / len(v), 3) for k, v in totals.items()}
    out["median_hits"] = {k: sorted(v)[len(v) // 2] for k, v in totals.items()}
    return out


# ---- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--institutions", type=int, default=32)
    parser.add_argument("--mean-holders", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gzip", action="store_true", help="gzip the libraries' files")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "kede-scale-corpus"
    )
    parser.add_argument("--queries", type=int, default=100, help="queries of each kind")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--search", choices=("tantivy", "postgres"),
                        help="search engine (default: tantivy; postgres with --pg)")  # fmt: skip
    parser.add_argument(
        "--profile", type=int, nargs="?", const=2, default=0, metavar="N",
        help="cProfile the Nth library's load (default the second)",
    )  # fmt: skip
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (and PostgreSQL schema)"
    )
    parser.add_argument(
        "--trace-memory", action="store_true",
        help="tracemalloc: where memory grew between the first library's load and the end",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    if args.records < 1 or args.institutions < 1:
        parser.error("--records and --institutions must be positive")

    corpus = args.corpus or base_bench.SHARED_CORPUS
    if not corpus.is_dir():
        parser.error(f"corpus not found: {corpus}")
    started = time.perf_counter()
    params = {"records": args.records, "institutions": args.institutions,
              "mean_holders": args.mean_holders, "seed": args.seed, "gzip": args.gzip,
              "queries": args.queries}  # fmt: skip
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    directory, manifest, reused = corpus_files(params, corpus, args.cache_dir)
    generate_s = time.perf_counter() - t0
    paths = [directory / lib["file"] for lib in manifest["libraries"]]
    log(f"corpus {'reused' if reused else 'generated'} in {generate_s:.1f} s: {directory}")

    bare_records, bare_s = bare_parse(paths)
    log(f"bare pymarc: {bare_records:,} records, {bare_records / bare_s:,.0f}/s")
    rss_after_bare = peak_rss_mb()
    pipe_read, pipe_accepted, pipe_s = pipeline_only(paths)
    log(f"pipeline: {pipe_read:,} records, {pipe_read / pipe_s:,.0f}/s")
    rss_after_pipeline = peak_rss_mb()

    schema = base_bench.setup_django(args)
    instance = os.environ["KEDE_INSTANCE_DIR"]
    try:
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", interactive=False, verbosity=0)
        sources = make_libraries([lib["code"] for lib in manifest["libraries"]])
        engine_name = os.environ["KEDE_SEARCH_ENGINE"]
        log(f"load into {base_bench.describe(connection)} + {engine_name}, load {load_average()}")
        load = load_all(
            sources, directory, manifest, profile=args.profile, trace_memory=args.trace_memory
        )
        t0 = time.perf_counter()
        sizes = stored_vs_intended(sources, directory, manifest)
        from kede.catalog import indexing

        sizes["indexed"] = indexing.engine().count()
        sizes["seconds"] = round(time.perf_counter() - t0, 1)
        log(f"stored {sizes['works']:,} works of {sizes['works_intended']:,} intended; searching")
        search = search_latency(manifest["queries"], args.warmup)
        database = base_bench.describe(connection)
        db_size = None
        if connection.vendor == "sqlite":
            db_size = sum(p.stat().st_size for p in Path(instance).rglob("*") if p.is_file())
    finally:
        from django.db import connection

        connection.close()
        if schema and not args.keep:
            base_bench.drop_schema(args, schema)
        if args.keep:
            log(f"kept: {instance}" + (f", schema {schema}" if schema else ""))
        else:
            shutil.rmtree(instance, ignore_errors=True)
    bare_rate = bare_records / bare_s if bare_s else 0.0
    result = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_at_end": load_average(),
        },
        "corpus": {
            "directory": str(directory),
            "reused": reused,
            "generate_s": round(generate_s, 1) if not reused else manifest["seconds"],
            "megabytes": round(sum(lib["bytes"] for lib in manifest["libraries"]) / 1e6, 1),
            "bases": manifest["bases"],
            "intended": manifest["intended"],
            "libraries": {lib["code"]: lib["records"] for lib in manifest["libraries"]},
        },
        "database": database,
        "search_engine": os.environ["KEDE_SEARCH_ENGINE"],
        "database_megabytes": round(db_size / 1e6, 1) if db_size else None,
        "bare_parse": {
            "records": bare_records,
            "seconds": round(bare_s, 1),
            "records_per_s": round(bare_rate, 1),
        },
        "pipeline": {
            "records": pipe_read,
            "accepted": pipe_accepted,
            "seconds": round(pipe_s, 1),
            "records_per_s": round(pipe_read / pipe_s, 1) if pipe_s else None,
            "ratio_to_bare": round(pipe_read / pipe_s / bare_rate, 3)
            if pipe_s and bare_rate
            else None,
        },
        "load": {k: v for k, v in load.items() if k != "profile"},
        "load_to_bare_ratio": round(load["records_per_s"] / bare_rate, 4)
        if bare_rate and load["records_per_s"]
        else None,
        "peak_rss_mb": {
            "after_bare_parse": rss_after_bare,
            "after_pipeline": rss_after_pipeline,
            "after_load": load["peak_rss_mb"],
            "at_end": peak_rss_mb(),
        },
        "stored": sizes,
        "search": search,
        "total_s": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    report(result)
    for row in load.get("memory_growth", []):
        print(
            f"memory grew {row['kb']:>9,} KB in {row['blocks']:>8,} blocks at",
            " <- ".join(row["where"][:4]),
        )
    if "profile" in load:
        print(load["profile"])
        print(f"profile saved in {load['profile_file']}")
    return 0


def _ms(p: dict) -> str:
    return f"p50 {p.get('p50_ms'):>7} ms  p95 {p.get('p95_ms'):>7} ms  p99 {p.get('p99_ms'):>7} ms"


def report(r: dict) -> None:
    m, c, i = r["machine"], r["corpus"], r["corpus"]["intended"]
    print(f"{m['cores']} cores · Python {m['python']} · {m['platform']}")
    print(f"load average at the end: {m['load_average_at_end']}")
    b, held = c["bases"], c["libraries"].values()
    print(
        f"corpus: {b['bases']:,} bases ({b['bases_with_cjk_title']} with a CJK title) from "
        f"{b['records_read']:,} real records in {b['files']} files → {i['records']:,} records of "
        f"{i['works']:,} intended works ({i['records_per_work']} records/work, "
        f"{i['cjk_works']:,} with CJK titles, {i['works_with_isbn']:,} with an ISBN) over "
        f"{len(held)} libraries ({min(held):,}–{max(held):,} records each); "
        f"{c['megabytes']:,} MB, {'reused' if c['reused'] else 'generated'} "
        f"({c['generate_s']} s to generate)"
    )
    print(f"  holders per work: {i['holders_histogram']}")
    print(f"{r['database']} + {r['search_engine']}")
    bare, pipe, load = r["bare_parse"], r["pipeline"], r["load"]
    print(
        f"bare pymarc parsing: {bare['records']:,} records in {bare['seconds']} s = "
        f"{bare['records_per_s']:,} records/s"
    )
    print(
        f"ingest pipeline (no database): {pipe['records']:,} records in {pipe['seconds']} s = "
        f"{pipe['records_per_s']:,} records/s ({pipe['ratio_to_bare']} of bare)"
    )
    spread = load["spread_records_per_s"]
    print(
        f"end-to-end load: {load['records']:,} records in {load['seconds']} s = "
        f"{load['records_per_s']:,} records/s ({r['load_to_bare_ratio']} of bare parsing; "
        f"goal 15,000); per library min {spread.get('min')} / median {spread.get('median')} / "
        f"max {spread.get('max')} records/s"
    )
    for row in load["per_library"]:
        note = f" {row['status']}: {row['error']}" if row["error"] else ""
        print(
            f"  {row['library']}: {row['records']:>8,} records ({row['accepted']:,} kept) "
            f"{row['seconds']:>8} s {row['records_per_s']:>8,}/s  "
            f"works +{row['works_created']:,}, {row['comparisons_per_record']} comparisons/record"
            f"{note}"
        )
    rss = load["rss"]
    peaks = r["peak_rss_mb"]
    print(
        f"RSS during the load ({rss.get('samples')} samples): first {rss.get('first_mb')} MB, max "
        f"{rss.get('max_mb')}, last {rss.get('last_mb')}; anonymous (heap) first "
        f"{rss.get('anon_first_mb')}, max {rss.get('anon_max_mb')}, last {rss.get('anon_last_mb')}"
    )
    print(
        "  at each tenth of the records, RSS/anonymous MB: "
        + " ".join(f"{t['rss_mb']:.0f}/{t['anon_mb']:.0f}" for t in rss.get("at_tenths", []))
    )
    print(
        f"peak RSS (ru_maxrss): {peaks['after_bare_parse']} MB after bare parsing, "
        f"{peaks['after_pipeline']} after the pipeline, {peaks['after_load']} after the load, "
        f"{peaks['at_end']} at the end"
    )
    s = r["stored"]
    p = s["pairs"]
    print(
        f"stored: {s['works']:,} works (intended {s['works_intended']:,}), {s['member_records']:,} "
        f"member records (intended {s['member_records_intended']:,}), {s['holdings']:,} holdings "
        f"(intended {s['holdings_intended']:,}); {s['indexed']:,} in the search index"
        + (f"; database {r['database_megabytes']:,} MB" if r["database_megabytes"] else "")
    )
    print(
        f"grouping: record pairs put together precision {p['precision']} recall {p['recall']}; "
        f"{s['intended_works_split']:,} intended works split, "
        f"{s['stored_works_joining_several']:,} stored works joining several; "
        f"{s['records_not_traced']} records not traced"
    )
    for kind, group in s["examples"].items():
        for key, lines in group.items():
            what = "stored work" if kind == "joined" else "intended work"
            print(f"  {kind}: {what} #{key}")
            for line in lines:
                print(f"    {line}")
    q = r["search"]
    shown = "holder counts" + (", holdings_by_work" if q.get("holdings_by_work") else "")
    labels = {"works_search": f"works_search (facets, {shown})",
              "engine": "bare engine (the limit)"}  # fmt: skip
    for name, label in labels.items():
        print(f"search {label}, {q['queries']} queries: {_ms(q[name]['all'])}")
        for kind, v in q[name]["by_kind"].items():
            extra = ""
            if name == "engine":
                found, hits = q["found_something"][kind], q["median_hits"][kind]
                extra = f"  found {found:.0%}, median hits {hits:,}"
            print(f"  {kind:<13} {_ms(v)}{extra}")
    print(f"total {r['total_s']} s")


if __name__ == "__main__":
    sys.exit(main())
