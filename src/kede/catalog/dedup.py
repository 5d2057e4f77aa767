"""De-duplication of bibliographic records into works. Pure: no Django.

Three steps, each usable on its own:

1. `blocking_keys(record)`: a few short keys per record (standard numbers, title-word keys);
   records that share a key become candidate pairs (`candidate_pairs`), so a catalogue of n
   records is compared in about n·k pairs, not n²/2.
2. `match(a, b)`: one decision for one pair. Vetoes first (a notice about the other, format,
   print vs electronic, carrier, volume, edition, year, language, no ISBN in common), then
   standard numbers (ISBN, LCCN, OCLC number; ISSN between serials), then a weighted fuzzy
   comparison of title, authors, year and venue (articles) or publisher (catalogue records),
   with stricter demands on records whose control numbers differ, on catalogue records whose
   titles each have words the other lacks, and on stock titles ("Editorial").
3. `cluster(records)`: union-find over the matched candidate pairs.

`MatchRecord.from_marc` builds a record from a whole MARC record (carrier from 008/007/338,
LCCN, OCLC numbers, every publication date); `choose_display` picks the record of a cluster to
show. Quality on DBLP–ACM and on labelled real MARC duplicates: bench/dedup_quality.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import combinations
from typing import TYPE_CHECKING

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from kede.catalog.normalise import (
    author_key,
    edition_key,
    fold_text,
    lccn_normalise,
    oclc_number,
    repair_mojibake,
    title_key,
    title_part,
    volume_key,
    year_of,
)
from kede.core.identifiers import normalise_isbn, normalise_issn

if TYPE_CHECKING:
    import pymarc

    from kede.catalog.marc import BibRecord


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """What matching needs of a bibliographic record, as plain values. `venue` is the journal
    or conference for an article, the publisher for a book. `nonfiling` is 245 indicator 2
    when `title` still carries its leading article. `source` names the catalogue the record
    comes from; `cluster(..., one_per_source=True)` uses it.

    `carrier` is the physical or electronic form, "class" or "class/detail": "print", "large
    print", "braille", "microform", "electronic", "sound/disc", "sound/cassette",
    "video/disc", "video/cassette" ("" when unknown); `language` a MARC language code (008/35-37);
    `oclcs` further OCLC numbers of the record (035 often holds the numbers of merged records).
    `dates` is every year the record gives for its publication (008 dates, 260/264 $c: "1859
    [c1858]" gives both) and `provisional` marks a prepublication (CIP) record, whose date is
    a forecast; a record built without them (`from_bib`) leaves them empty."""

    id: Hashable
    title: str
    authors: tuple[str, ...] = ()
    year: int | None = None
    venue: str = ""
    edition: str = ""
    volume: str = ""
    isbns: tuple[str, ...] = ()
    issns: tuple[str, ...] = ()
    lccn: str = ""
    oclc: str = ""
    format: str = ""
    is_electronic: bool = False
    nonfiling: int = 0
    source: str = ""
    carrier: str = ""
    language: str = ""
    oclcs: tuple[str, ...] = ()
    dates: tuple[int, ...] = ()
    provisional: bool = False

    @classmethod
    def from_bib(cls, bib: BibRecord, *, source: str = "") -> MatchRecord:
        """From the simple loader's record (kede.catalog.marc.BibRecord); the id becomes
        (source, local_id) when a source is given, since local ids repeat across libraries."""
        return cls(
            id=(source, bib.local_id) if source else bib.local_id,
            title=bib.title,
            authors=(bib.author,) if bib.author else (),
            year=year_of(bib.year),
            venue=bib.publisher,
            edition=bib.edition,
            isbns=tuple(bib.isbns),
            issns=tuple(bib.issns),
            format=bib.format,
            source=source,
            language=bib.language,
        )

    @classmethod
    def from_marc(
        cls, record: pymarc.Record, *, source: str = "", id: Hashable = None
    ) -> MatchRecord:
        """From a whole MARC record: what `from_bib` takes, plus what the simple loader drops -
        the nonfiling count (245 ind. 2), LCCN (010), OCLC numbers (035, or an OCLC 001), the
        volume or part (245 $n), the carrier (`carrier_of`). Raises kede.catalog.marc.MarcError
        for a record the loader refuses (no 245 $a, no 001). `id` replaces the default id."""
        from kede.catalog.marc import bib_from_record

        base = cls.from_bib(bib_from_record(record), source=source)
        title = record.get("245")
        nonfiling = title.indicator2 if title is not None else ""
        parts = title.get_subfields("n") if title is not None else []
        oclcs = _oclc_numbers(record)
        carrier = carrier_of(record)
        dates = _publication_years(record)
        fixed = record.get("008")
        date1 = fixed.data[7:11] if fixed is not None and fixed.data else ""
        leader = str(record.leader)
        return replace(
            base,
            id=base.id if id is None else id,
            # the simple loader knows years from 1500 only; incunabula have 008 dates too
            year=(year_of(date1) or base.year) if date1.isdigit() else base.year,
            dates=dates,
            provisional=len(leader) > 17 and leader[17] == "8",
            nonfiling=int(nonfiling) if nonfiling and nonfiling.isdigit() else 0,
            volume=" ".join(parts),
            lccn=" ".join(_subfields(record, "010", "a")[:1]),
            oclc=oclcs[0] if oclcs else "",
            oclcs=oclcs[1:],
            carrier=carrier,
            is_electronic=carrier.startswith("electronic"),
        )


def _subfields(record: pymarc.Record, tag: str, code: str) -> list[str]:
    return [
        value
        for field in record.get_fields(tag)
        if not field.is_control_field()
        for value in field.get_subfields(code)
    ]


# 008/06 date types whose Date 2 is another possible date of the same publication: a
# copyright date (t), the end of a range the date is somewhere in (q), the end of a
# multipart publication's years (m).
_ALTERNATIVE_DATE2 = frozenset("tqm")


def _publication_years(record: pymarc.Record) -> tuple[int, ...]:
    """Every year the record gives for its publication: 008 Date 1, Date 2 when it is an
    alternative (`_ALTERNATIVE_DATE2`), and each year in 260/264 $c."""
    years: list[int] = []
    fixed = record.get("008")
    data = fixed.data if fixed is not None and fixed.data else ""
    if len(data) >= 15:
        for text in (data[7:11], data[11:15] if data[6] in _ALTERNATIVE_DATE2 else ""):
            if text.isdigit() and (year := year_of(text)):
                years.append(year)
    for tag in ("260", "264"):
        for text in _subfields(record, tag, "c"):
            years.extend(int(y) for y in _YEARS.findall(text))
    return tuple(dict.fromkeys(years))


_YEARS = re.compile(r"(?<![0-9])(1[0-9]{3}|20[0-9]{2})(?![0-9])")


def _oclc_numbers(record: pymarc.Record) -> tuple[str, ...]:
    """The record's OCLC numbers: each 035 $a that says it is one ("(OCoLC)…", "ocm…"), and
    the 001 when it is an OCLC number with its prefix ("ocm42943498")."""
    numbers = [n for raw in _subfields(record, "035", "a") if (n := oclc_number(raw))]
    control = record.get("001")
    if control is not None and control.data and (n := oclc_number(control.data)):
        numbers.append(n)
    return tuple(dict.fromkeys(numbers))


# 008 "form of item" (position 23, or 29 for maps and visual materials).
_FORM_OF_ITEM = {
    "a": "microform",
    "b": "microform",
    "c": "microform",
    "d": "large print",
    "f": "braille",
    "o": "electronic",
    "q": "electronic",
    "s": "electronic",
}
# 007/00-01 and RDA carrier type (338 $b) codes.
_PHYSICAL = {"c": "electronic", "h": "microform", "f": "braille", "s": "sound", "v": "video"}
_PHYSICAL_DETAIL = {"sd": "disc", "ss": "cassette", "vd": "disc", "vf": "cassette"}
_CARRIER_TYPE = {"n": "print", "c": "electronic", "h": "microform", "s": "sound", "v": "video"}
_CARRIER_WORDS = (
    ("electronic resource", "electronic"),
    ("online resource", "electronic"),
    ("microform", "microform"),
    ("microfiche", "microform"),
    ("microfilm", "microform"),
)


def carrier_of(record: pymarc.Record) -> str:
    """The carrier a MARC record describes, from the most explicit place that says it: 008
    form of item, then the first 007, then 338 $b, then words in 245 $h / 300 $a ("[electronic
    resource]", "1 online resource", "microfiche"); a textual record (leader/06 a or t) whose
    008 says regular print is "print". "" when nothing says."""
    leader = str(record.leader)
    kind = leader[6] if len(leader) > 6 else ""
    fixed = record.get("008")
    data = fixed.data if fixed is not None and fixed.data else ""
    position = 29 if kind in "efgkor" else 23
    form = data[position] if len(data) > position and kind else ""
    if form in _FORM_OF_ITEM:
        return _FORM_OF_ITEM[form]
    for field in record.get_fields("007")[:1]:
        code = (field.data or "")[:2].lower()
        if code[:1] in _PHYSICAL:
            detail = _PHYSICAL_DETAIL.get(code, "")
            return f"{_PHYSICAL[code[0]]}/{detail}" if detail else _PHYSICAL[code[0]]
    for code in _subfields(record, "338", "b")[:1]:
        code = code.strip().lower()
        if code[:1] in _CARRIER_TYPE:
            detail = _PHYSICAL_DETAIL.get(code, "")
            base = _CARRIER_TYPE[code[0]]
            return f"{base}/{detail}" if detail else base
    words = fold_text(" ".join(_subfields(record, "245", "h") + _subfields(record, "300", "a")))
    for phrase, carrier in _CARRIER_WORDS:
        if phrase in words:
            return carrier
    if kind in ("a", "t") and form in (" ", "r"):
        return "print"
    return ""


@dataclass(frozen=True, slots=True)
class MatchDecision:
    same: bool
    score: float
    reason: str


# --- features -------------------------------------------------------------------------------

# Words too common to say anything about a title (English, French, German, Spanish, Italian).
_STOPWORD_TEXT = """
a an the of and or in on for to by with from at as is are its into via
le la les l un une des du de d et en au aux pour par sur dans
der die das den dem des ein eine einer und oder im zu zur zum fur mit von vom auf
el los las y o del al por para con su sus il lo gli i e di da dei della per
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Words that say what kind of venue a serial or meeting is. Two venues of different kinds
# (a conference and a journal with the same name, as VLDB and The VLDB Journal) are different
# publications even when their other words agree.
_VENUE_KINDS = {
    "journal": "journal",
    "j": "journal",
    "jour": "journal",
    "transactions": "journal",
    "trans": "journal",
    "record": "journal",
    "rec": "journal",
    "magazine": "journal",
    "mag": "journal",
    "bulletin": "journal",
    "bull": "journal",
    "letters": "journal",
    "lett": "journal",
    "quarterly": "journal",
    "review": "journal",
    "rev": "journal",
    "zeitschrift": "journal",
    "revue": "journal",
    "rivista": "journal",
    "conference": "meeting",
    "conf": "meeting",
    "proceedings": "meeting",
    "proc": "meeting",
    "symposium": "meeting",
    "symp": "meeting",
    "workshop": "meeting",
    "congress": "meeting",
    "colloquium": "meeting",
    "meeting": "meeting",
    "tagung": "meeting",
}
# Scripts without spaces: the kind is the end of the name ("计算机学报", "全国图书馆学会议").
_VENUE_KIND_ENDINGS = {"学报": "journal", "杂志": "journal", "期刊": "journal", "会议": "meeting"}
# A title that names one of these is a notice about another publication, not that
# publication: "Erratum: A database model for object dynamics".
_NOTICE_WORDS = frozenset(
    {"erratum", "errata", "corrigendum", "corrigenda", "addendum", "retraction", "retracted"}
)
# Words that do not tell venues or publishers apart.
_VENUE_NOISE_TEXT = """
the of on and for in de acm ieee international intl annual
inc ltd co corp gmbh llc plc verlag publishers publishing publisher publ
"""
_VENUE_NOISE = frozenset(_VENUE_NOISE_TEXT.split())
# Words that do not tell publishers apart ("Penguin" / "Penguin Books", "Verlag C.H. Beck"),
# and the placeholders for no publisher ("[s.n.]", "[publisher not identified]").
_PUBLISHER_NOISE_TEXT = """
the of and for de du des la le et und der die das y e i
inc ltd co company corp gmbh llc plc sa srl ag
verlag verlags publishers publishing publisher publ pub book books editions editorial editeur
editeurs edition editora editrice ediciones izd izdatelstvo forlag kustannus wydawnictwo
press presses
s n sn sine nomine not identified unknown
"""
_PUBLISHER_NOISE = frozenset(_PUBLISHER_NOISE_TEXT.split())
# MARC language codes that do not name one language.
_NO_LANGUAGE = frozenset({"", "und", "mul", "zxx", "mis", "|||", "###", "   "})


@dataclass(frozen=True, slots=True)
class _Features:
    title: str
    short_titles: tuple[str, ...]
    tokens: tuple[str, ...]
    notice: frozenset[str]
    authors: tuple[str, ...]
    year: int | None
    venue_kinds: frozenset[str]
    venue_words: tuple[str, ...]
    edition: str
    volume: str
    isbns: frozenset[str]
    issns: frozenset[str]
    lccn: str
    oclcs: frozenset[str]
    format: str
    is_electronic: bool
    carrier: str
    language: str
    publisher_words: tuple[str, ...]
    catalogue: bool
    dates: frozenset[int]
    provisional: bool


# Where a main title ends and a subtitle or statement begins (ISBD " : ", " - ", "(…)", ". ").
_MAIN_TITLE_END = re.compile(r"\s*(?::|\s-+\s|\(|\[|\.\s|\s/\s|\s=\s|;)")
# A bracketed qualifier at the end: "(abstract)", "(panel session)", "[microform]".
_TRAILING_QUALIFIER = re.compile(r"\s*[(\[][^()\[\]]*[)\]]\s*$")


def _short_titles(title: str, nonfiling: int, key: str) -> tuple[str, ...]:
    """Shorter forms of a title that another catalogue may have recorded instead: the main
    title (before " : ", " - ", "(") and the title without a bracketed qualifier at its end.
    Only forms of three significant words or more: "Data mining" or "Guest editorial" alone
    say too little."""
    forms = (
        title_key(_MAIN_TITLE_END.split(title, maxsplit=1)[0], nonfiling),
        title_key(_TRAILING_QUALIFIER.sub("", title), nonfiling),
    )
    return tuple(dict.fromkeys(f for f in forms if f != key and len(_significant(f.split())) >= 3))


def _oclc(raw: str) -> str:
    if not raw:
        return ""
    digits = raw.strip().lstrip("0")
    if digits.isdigit():
        return digits
    return oclc_number(raw) or ""


# Each entry holds a record's normalised form (a few KB): enough for a batch's records and
# their candidates, bounded so a load of millions keeps its memory flat.
@lru_cache(maxsize=16384)
def features(record: MatchRecord) -> _Features:
    """The normalised form of a record, computed once per record. Text whose UTF-8 was read
    as Latin-1 on its way ("PÃ©rez") is repaired first."""
    title = repair_mojibake(record.title)
    venue = repair_mojibake(record.venue)
    key = title_key(title, record.nonfiling)
    venue_words: list[str] = []
    kinds: set[str] = set()
    for word in fold_text(venue).split():
        if word in _VENUE_KINDS:
            kinds.add(_VENUE_KINDS[word])
        elif word not in _VENUE_NOISE:
            venue_words.append(word)
            if not word.isascii():
                kinds.update(k for end, k in _VENUE_KIND_ENDINGS.items() if word.endswith(end))
    tokens = tuple(key.split())
    fmt = record.format.strip().casefold()
    language = record.language.strip(" |#").casefold()
    return _Features(
        title=key,
        short_titles=_short_titles(title, record.nonfiling, key),
        tokens=tokens,
        notice=_NOTICE_WORDS.intersection(tokens),
        authors=tuple(
            dict.fromkeys(k for a in record.authors if (k := author_key(repair_mojibake(a))))
        ),
        year=record.year,
        venue_kinds=frozenset(kinds),
        venue_words=tuple(venue_words),
        edition=edition_key(record.edition),
        volume=volume_key(record.volume) or title_part(title),
        isbns=frozenset(n for raw in record.isbns if (n := normalise_isbn(raw))),
        issns=frozenset(n for raw in record.issns if (n := normalise_issn(raw))),
        lccn=(lccn_normalise(record.lccn) or "") if record.lccn else "",
        oclcs=frozenset(n for raw in (record.oclc, *record.oclcs) if (n := _oclc(raw))),
        format=fmt,
        is_electronic=record.is_electronic,
        carrier=record.carrier.strip().casefold(),
        language="" if language in _NO_LANGUAGE else language,
        publisher_words=tuple(w for w in fold_text(venue).split() if w not in _PUBLISHER_NOISE),
        catalogue=fmt not in ("", "article"),
        dates=frozenset(record.dates),
        provisional=record.provisional,
    )


# --- blocking -------------------------------------------------------------------------------


def _significant(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t not in _STOPWORDS and (len(t) > 2 or not t.isascii())]


def blocking_keys(record: MatchRecord) -> set[str]:
    """Keys under which a record is indexed; two records are compared only if they share one.

    - every standard number (ISBN-13, ISSN, LCCN, OCLC number), so those matches never
      depend on the title;
    - the first two significant title words, in order ("f:");
    - each pair, sorted, of the three longest significant title words ("l:"). Long words are
      the rare ones, so these keys stay selective, and as three pairs they survive one word
      of the three being changed, misspelt, or pushed out by a subtitle, and any change of
      word order;
    - the first two significant words with the year ("y:"): in a large catalogue the "f:"
      block of "Collected poems" outgrows `max_block` and is skipped, this one does not;
    - for a title of fewer than two significant words (CJK titles, which have no spaces to
      split at, and one-word titles) also its first eight characters ("p:").
    On DBLP–ACM these keys give 0.12 % of the cross product as candidates and keep 99.7 %
    of the true pairs (bench/dedup_quality.py).
    """
    f = features(record)
    keys = {f"isbn:{n}" for n in f.isbns}
    keys.update(f"issn:{n}" for n in f.issns)
    if f.lccn:
        keys.add(f"lccn:{f.lccn}")
    keys.update(f"oclc:{n}" for n in f.oclcs)
    words = _significant(f.tokens)
    if words:
        keys.add("f:" + " ".join(words[:2]))
        longest = sorted(sorted(set(words), key=lambda w: (-len(w), w))[:3])
        if len(longest) == 1:
            keys.add("l:" + longest[0])
        keys.update(f"l:{a} {b}" for a, b in combinations(longest, 2))
        if f.year is not None:
            keys.add(f"y:{f.year} " + " ".join(words[:2]))
    if len(words) < 2 and f.title:
        keys.add("p:" + f.title.replace(" ", "")[:8])
    return keys


def candidate_pairs(
    records: Iterable[MatchRecord],
    *,
    max_block: int = 100,
    keep: Callable[[MatchRecord, MatchRecord], bool] | None = None,
) -> Iterator[tuple[MatchRecord, MatchRecord]]:
    """Each pair of records that share a blocking key, once. A title-word block with more than
    `max_block` records (a stock title such as "Annual report" or "Editorial") is skipped:
    comparing all of it costs quadratic time and would mostly produce non-matches; blocks on
    standard numbers are always used. `keep` filters pairs (e.g. only across two sources)."""
    blocks: dict[str, list[MatchRecord]] = defaultdict(list)
    for record in records:
        for key in blocking_keys(record):
            blocks[key].append(record)
    seen: set[tuple[Hashable, Hashable]] = set()
    for key, members in blocks.items():
        if len(members) < 2:
            continue
        if len(members) > max_block and key[:2] in ("f:", "l:", "p:", "y:"):
            continue
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a.id == b.id:
                    continue
                pair = (a.id, b.id) if repr(a.id) <= repr(b.id) else (b.id, a.id)
                if pair in seen:
                    continue
                seen.add(pair)
                if keep is None or keep(a, b):
                    yield a, b


# --- matching -------------------------------------------------------------------------------


def _title_similarity(a: _Features, b: _Features) -> float:
    """Edit-distance similarity of the title keys (the better of plain and word-sorted). When
    the catalogues disagree on a subtitle or a qualifier, also one title's short forms (main
    title, title without "(abstract)") against the other title or its short forms, and a
    title that is the other's beginning ("Unix RDBMS: the next generation" / "… the next
    generation what are the Unix vendors doing…"); such a partial agreement counts a little
    less than a full one (SHORT_FORM_DISCOUNT)."""
    if not a.title or not b.title:
        return 0.0
    if a.title == b.title:
        return 1.0
    best = _pair_similarity(a.title, b.title)
    if best >= SHORT_FORM_DISCOUNT:
        return best
    short, long_ = sorted((a.title, b.title), key=len)
    # (A catalogue record's title marks its subtitle with ISBD " : ", which the short forms
    # catch; one that merely begins like a longer one is another title.)
    if (
        not (a.catalogue or b.catalogue)
        and long_.startswith(short + " ")
        and len(_significant(short.split())) >= 3
    ):
        return SHORT_FORM_DISCOUNT
    for x in (a.title, *a.short_titles):
        for y in (b.title, *b.short_titles):
            if x is not a.title or y is not b.title:
                best = max(best, SHORT_FORM_DISCOUNT * _pair_similarity(x, y))
    return best


SHORT_FORM_DISCOUNT = 0.95


def _pair_similarity(x: str, y: str) -> float:
    if x == y:
        return 1.0
    return max(fuzz.ratio(x, y), fuzz.token_sort_ratio(x, y)) / 100


def _person_similarity(a: str, b: str) -> float:
    """1 for author keys ("surname i") that agree, allowing one or two edits in the surname
    (a typo, or a letter lost to a bad character set: "krll" / "kroll"); 0.5 for the same
    surname with another initial (a nickname or a different order of given names: "Bob
    Gerber" / "Robert H. Gerber"); 0 otherwise."""
    if a == b:
        return 1.0
    a_surname, _, a_initial = a.rpartition(" ")
    b_surname, _, b_initial = b.rpartition(" ")
    a_surname = a_surname or a_initial
    b_surname = b_surname or b_initial
    limit = 1 if min(len(a_surname), len(b_surname)) < 6 else 2
    if Levenshtein.distance(a_surname, b_surname, score_cutoff=limit) > limit:
        return 0.0
    return 1.0 if a_initial == b_initial else 0.5


def _author_similarity(a: _Features, b: _Features) -> float | None:
    """How far two author lists agree: each author of the shorter list takes its best
    partner in the longer one; the sum is divided once by the shorter length (is one list
    inside the other? — catalogues under AACR2's rule of three, or a panel listed under its
    chair, give only the first names) and once by the longer length (do they hold the same
    people?), and the two shares averaged. "Ross" against "Ross, Weikum, Levy" gives 0.67,
    the same list in another order 1. None when either record has no author."""
    if not a.authors or not b.authors:
        return None
    short, long_ = sorted((a.authors, b.authors), key=len)
    unmatched = list(long_)
    total = 0.0
    for name in short:
        best, best_i = 0.0, -1
        for i, other in enumerate(unmatched):
            value = _person_similarity(name, other)
            if value > best:
                best, best_i = value, i
                if value == 1.0:
                    break
        if best_i >= 0:
            total += best
            del unmatched[best_i]
    return (total / len(short) + total / len(long_)) / 2


def _year_similarity(a: _Features, b: _Features) -> float | None:
    if a.year is None or b.year is None:
        return None
    gap = abs(a.year - b.year)
    return 1.0 if gap == 0 else 0.5 if gap == 1 else 0.0


def _word_in(word: str, others: Sequence[str]) -> bool:
    """A venue word matches an equal word, a word it abbreviates ("syst" / "systems"), or the
    initials of consecutive words ("vldb" / "very large data bases")."""
    for i, other in enumerate(others):
        if other == word or (len(word) >= 3 and other.startswith(word)):
            return True
        if (
            other[0] == word[0]
            and 1 < len(word) <= len(others) - i
            and "".join(w[0] for w in others[i : i + len(word)]) == word
        ):
            return True
    return False


def _venue_similarity(a: _Features, b: _Features) -> float | None:
    """0 for venues of different kinds (journal vs conference, or a kind named on one side
    only); for venues of the same kind, 0.5 plus half the share of words of one name found in
    the other ("ACM Trans. Database Syst." / "ACM Transactions on Database Systems (TODS)"
    -> 1, "VLDB" / "Very Large Data Bases" -> 1, "SIGMOD Conference" / "International
    Conference on Management of Data" -> 0.5). None when either record has no venue."""
    if not (a.venue_words or a.venue_kinds) or not (b.venue_words or b.venue_kinds):
        return None
    if a.venue_kinds != b.venue_kinds:
        return 0.0
    if not a.venue_words or not b.venue_words:
        return 0.5
    short, long_ = sorted((a.venue_words, b.venue_words), key=len)
    found = sum(1 for w in short if _word_in(w, long_)) / len(short)
    back = sum(1 for w in long_ if _word_in(w, short)) / len(long_)
    return 0.5 + 0.5 * max(found, back)


def _ordinal(edition: str) -> bool:
    return edition.isdigit() and len(edition) <= 3


def _years_agree(a: _Features, b: _Features) -> bool:
    """The same year, an unknown one, or a gap the records themselves explain: one names the
    other's year among its dates ("1859 [c1858]"), or one is a prepublication record."""
    if a.year is None or b.year is None or a.year == b.year:
        return True
    return a.year in b.dates or b.year in a.dates or a.provisional or b.provisional


def _carriers_differ(a: str, b: str) -> bool:
    """ "sound/disc" and "sound/cassette" differ, "sound" and "sound/disc" do not (one record
    just says less); an unknown carrier ("") agrees with any."""
    if not a or not b:
        return False
    a_class, _, a_detail = a.partition("/")
    b_class, _, b_detail = b.partition("/")
    return a_class != b_class or bool(a_detail and b_detail and a_detail != b_detail)


def years_too_far_apart(a: int | None, b: int | None) -> bool:
    """Two known years more than one apart: never one manifestation, whatever else agrees.
    A year apart is the 008 date against "c2002", or a late printing; more is a reissue. Cheap
    enough to rule a candidate out before its record is even read (`works._place_new`)."""
    return a is not None and b is not None and abs(a - b) > 1


def _veto(a: _Features, b: _Features) -> str:
    """Why two records cannot be the same manifestation whatever else agrees, or "". These
    come before the standard numbers: a set's ISBN is on every volume, a print record lists
    the e-book's ISBN, an LCCN or ISBN is carried over to a reprint of another year."""
    if a.notice != b.notice:
        return f"a notice about the other ({', '.join(sorted(a.notice ^ b.notice))})"
    if a.format and b.format and a.format != b.format:
        return f"different format ({a.format} / {b.format})"
    if a.is_electronic != b.is_electronic:
        return "print vs electronic"
    if _carriers_differ(a.carrier, b.carrier):
        return f"different carrier ({a.carrier} / {b.carrier})"
    if a.volume and b.volume and a.volume != b.volume:
        return f"different volume ({a.volume} / {b.volume})"
    # No edition statement usually means a first edition: "" and "1" agree, "" and "2" do not.
    # Only ordinal numbers count here; "2002 ed." or "Rev. ed." against nothing is not decided.
    a_ed, b_ed = a.edition or "1", b.edition or "1"
    if _ordinal(a_ed) and _ordinal(b_ed) and a_ed != b_ed:
        return f"different edition ({a_ed} / {b_ed})"
    if years_too_far_apart(a.year, b.year):
        return f"years too far apart ({a.year} / {b.year})"
    # Records that give all their dates must explain a one-year gap: one of them names the
    # other's year ("1859 [c1858]", a copyright date) or is a prepublication record.
    # Otherwise it is the next issue of the same title (a session's laws, an almanac).
    if a.dates and b.dates and not _years_agree(a, b):
        return f"different years ({a.year} / {b.year})"
    if a.language and b.language and a.language != b.language:
        return f"different language ({a.language} / {b.language})"
    # An ISBN names one product (binding, carrier, printing with changes); two records that
    # both have ISBNs and share none describe different products.
    if a.isbns and b.isbns and not a.isbns & b.isbns:
        return "no ISBN in common"
    return ""


# Weights and threshold, chosen on the DBLP–ACM gold standard (bench/dedup_quality.py, a grid
# over weights 0.1–0.5 and thresholds 0.75–0.9, looking at the errors, not only the peak):
#
# - Title carries most of the evidence, but on DBLP–ACM every pair with a near-identical
#   title that is NOT the same paper differs in year or venue: the conference paper and its
#   journal version (same title and authors, a year later, a journal instead of a
#   conference) and stock titles in a serial ("Book review column", "Editorial",
#   "Reminiscences on influential papers") that only year and authors tell apart. So year
#   and venue weigh almost as much as the title together.
# - Year: equal 1, one year apart 0.5, further 0. With these weights one year apart, all else
#   equal, scores exactly 0.85 and still matches (the ±1 tolerance a union catalogue needs:
#   008 date vs "c2002", a late printing). Equal title and year with no author in common
#   reach 0.85 only when the venue agrees fully (0.4 + 0.3 + 0.15).
#   Refusing every one-year gap (THRESHOLD above 0.85, or the year weighted 0.4) lifts
#   pairwise F1 on DBLP–ACM from 0.979 to 0.983–0.985: a tuning to this data set, whose true
#   pairs all have equal years, that a catalogue cannot afford. Two narrower rules take most
#   of that gain instead: stock titles (WEAK_TITLE_WORDS) must agree on the year, and MARC
#   records that give all their dates must explain a one-year gap (`_veto`). Match F1 on
#   DBLP–ACM 0.987 (P 0.982, R 0.992); most remaining false positives are records nothing
#   in the data tells apart (four "Book review column"s by the same editor in each source in
#   2002), which cluster(..., one_per_source=True) pairs off.
# - A missing field (no authors, no year, no venue) drops out and the other weights are
#   scaled up, so a record is not punished for what its source does not record.
# - THRESHOLD is the highest value that keeps the one-year tolerance. Measured on DBLP–ACM
#   (title floor 0.7): pairwise F1 0.966 / 0.975 / 0.979 at 0.76 / 0.80 / 0.84, cluster F1
#   (one_per_source) 0.992 / 0.991 / 0.990 — flat, so the choice is not a knife edge.
WEIGHTS = {"title": 0.4, "authors": 0.15, "year": 0.3, "venue": 0.15}
# For catalogue records (books, serials, scores, recordings… - any format but "article") the
# fourth part is the publisher, and it weighs as much as the year: the same title by the same
# author in the same year from another publisher is another edition (Penguin, Fontana and
# Signet all issued Pride and prejudice in 1980). A publisher named in other words ("Oxford
# U.P." / "Oxford University Press", "Norton" / "W. W. Norton") agrees; none named drops out.
CATALOGUE_WEIGHTS = {"title": 0.35, "authors": 0.15, "year": 0.2, "publisher": 0.3}
THRESHOLD = 0.84
# Two records with different OCLC numbers or LCCNs match only when they agree almost fully: a
# one-year gap (0.9) or a publisher named half the same (0.85) is not enough.
CONFLICT_THRESHOLD = 0.95
# Below this title similarity nothing else can make two records the same.
TITLE_FLOOR = 0.7


def _publisher_similarity(a: _Features, b: _Features) -> float | None:
    """The share of one publisher's name words found in the other's (abbreviations and
    initials allowed: "Oxford U. P." / "Oxford University Press" -> 1, "Penguin" / "Penguin
    Books" -> 1, "Fontana" / "Penguin" -> 0). None when either record names none."""
    if not a.publisher_words or not b.publisher_words:
        return None
    short, long_ = sorted((a.publisher_words, b.publisher_words), key=len)
    found = sum(1 for w in short if _publisher_word_in(w, long_)) / len(short)
    back = sum(1 for w in long_ if _publisher_word_in(w, short)) / len(long_)
    return max(found, back)


def _publisher_word_in(word: str, others: Sequence[str]) -> bool:
    if len(word) == 1:
        return any(other.startswith(word) for other in others)
    return _word_in(word, others) or any(
        len(other) >= 3 and word.startswith(other) for other in others
    )


def score(a: MatchRecord, b: MatchRecord) -> tuple[float, dict[str, float | None]]:
    """The weighted similarity of two records in [0, 1], with the part each field gave.
    Articles (and records of no stated format) compare title, authors, year and venue
    (WEIGHTS); catalogue records compare title, authors, year and publisher
    (CATALOGUE_WEIGHTS)."""
    fa, fb = features(a), features(b)
    parts: dict[str, float | None] = {
        "title": _title_similarity(fa, fb),
        "authors": _author_similarity(fa, fb),
        "year": _year_similarity(fa, fb),
    }
    if fa.catalogue or fb.catalogue:
        parts["publisher"] = _publisher_similarity(fa, fb)
        weights = CATALOGUE_WEIGHTS
    else:
        parts["venue"] = _venue_similarity(fa, fb)
        weights = WEIGHTS
    total = weight = 0.0
    for name, value in parts.items():
        if value is not None:
            total += weights[name] * value
            weight += weights[name]
    return (total / weight if weight else 0.0), parts


def match(a: MatchRecord, b: MatchRecord) -> MatchDecision:
    """Whether two records describe the same publication, with the score and why."""
    fa, fb = features(a), features(b)
    if veto := _veto(fa, fb):
        return MatchDecision(False, 0.0, veto)
    if shared := fa.isbns & fb.isbns:
        return MatchDecision(True, 1.0, f"same ISBN {min(shared)}")
    if fa.lccn and fa.lccn == fb.lccn:
        return MatchDecision(True, 1.0, f"same LCCN {fa.lccn}")
    if shared := fa.oclcs & fb.oclcs:
        return MatchDecision(True, 1.0, f"same OCLC number {min(shared)}")
    # An ISSN names a serial, not an article or a book in a series: it decides only between
    # serial records.
    if fa.format == fb.format == "serial" and (shared := fa.issns & fb.issns):
        return MatchDecision(True, 1.0, f"same ISSN {min(shared)}")
    # Different record numbers count against: each catalogue record gets its own, but one
    # manifestation catalogued twice (the duplicates this module is for) has two as well, so
    # they only ask for a description that agrees almost fully (CONFLICT_THRESHOLD).
    conflict = ""
    if fa.oclcs and fb.oclcs:
        conflict = f"different OCLC numbers {min(fa.oclcs)} / {min(fb.oclcs)}"
    elif fa.lccn and fb.lccn:
        conflict = f"different LCCNs {fa.lccn} / {fb.lccn}"
    value, parts = score(a, b)
    detail = ", ".join(f"{name} {part:.2f}" for name, part in parts.items() if part is not None)
    if conflict:
        detail += f"; {conflict}"
    if (parts["title"] or 0.0) < TITLE_FLOOR:
        return MatchDecision(False, value, f"titles differ ({detail})")
    if (fa.catalogue or fb.catalogue) and (words := _title_words_disagree(fa, fb)):
        return MatchDecision(False, value, f"titles differ in {words} ({detail})")
    if weak := _weak_title_disagreement(fa, fb, parts):
        return MatchDecision(False, value, f"{weak} ({detail})")
    same = value >= (CONFLICT_THRESHOLD if conflict else THRESHOLD)
    return MatchDecision(
        same, value, ("similar" if same else "not similar enough") + f" ({detail})"
    )


# A title of this many significant words or fewer ("Editorial", "Guest editorial", "Book
# review column", "Collected poems") is a stock title: it recurs in every issue of a serial and
# for many books, so it says little about which one a record is.
WEAK_TITLE_WORDS = 3


def _weak_title_disagreement(a: _Features, b: _Features, parts: dict[str, float | None]) -> str:
    """The less a title says, the more the rest must agree: records with a stock title match
    only in the same year, with authors in common when both name authors, and with nearly
    the same title (0.9) unless the same authors vouch for a differently worded one ("Data
    access (tutorial session)" / "Tutorial: Data access"). "" when the titles are not stock
    titles or the rest agrees."""
    if min(len(_significant(a.tokens)), len(_significant(b.tokens))) > WEAK_TITLE_WORDS:
        return ""
    if not _years_agree(a, b):
        return "stock title, another year"
    if parts.get("authors") is None and parts.get("venue", parts.get("publisher")) is None:
        return "stock title, nothing else to compare"
    authors = parts.get("authors")
    if authors is not None and authors < 0.5:
        return "stock title, other authors"
    if (parts["title"] or 0.0) < 0.9 and (authors is None or authors < 0.9):
        return "stock title, worded otherwise"
    return ""


def _title_words(tokens: Sequence[str]) -> list[str]:
    return [
        t for t in tokens if t not in _STOPWORDS and (len(t) > 2 or not t.isascii() or t.isdigit())
    ]


def _unmatched(words: Sequence[str], others: Sequence[str]) -> list[str]:
    """The words of one title that the other does not have, in any spelling a catalogue
    would produce: a typo or transliteration variant (one or two edits), an abbreviation
    ("dept" / "department"), a different division into words ("zhong guo" / "zhongguo").
    Numbers must be equal."""
    joined = "".join(others)
    other_set = set(others)
    missing = []
    for word in words:
        if word in other_set:
            continue
        if word.isdigit():
            missing.append(word)
            continue
        if len(word) >= 4 and word in joined:
            continue
        limit = 1 if len(word) < 6 else 2
        if any(
            (
                len(other) >= 3
                and not other.isdigit()
                and (other.startswith(word) or word.startswith(other))
            )
            or Levenshtein.distance(word, other, score_cutoff=limit) <= limit
            for other in others
        ):
            continue
        missing.append(word)
    return missing


def _title_words_disagree(a: _Features, b: _Features) -> str:
    """Titles of catalogue records are transcribed from the item, so two that each have words
    the other lacks name different things ("Demographics - Field Crops … Commodity: CORN" /
    "… Commodity: TOBACCO", "Reihe 2 Rechtswissenschaft" / "Reihe 31 Politik"), while one that
    only adds words to the other is the same title with a subtitle or part recorded. Returns
    the differing words, or "" when the titles do not disagree this way."""
    a_words, b_words = _title_words(a.tokens), _title_words(b.tokens)
    a_only = _unmatched(a_words, b_words)
    if not a_only:
        return ""
    b_only = _unmatched(b_words, a_words)
    if not b_only:
        return ""
    return f"{' '.join(a_only[:3])!r} / {' '.join(b_only[:3])!r}"


# --- clustering -----------------------------------------------------------------------------


def cluster(
    records: Iterable[MatchRecord], *, max_block: int = 100, one_per_source: bool = False
) -> list[list[Hashable]]:
    """The records grouped into works: connected components (union-find) of the matched
    candidate pairs, each group a list of ids in input order, groups in the order of their
    first record; a record that matches nothing is a group of its own.

    With `one_per_source`, each source's records are taken to be distinct already (a library
    does not catalogue one edition twice), so a group never holds two records of one source:
    matched pairs are joined best score first and a join that would bring two records of the
    same source together is refused. Where a stock title ("Book review column", same editor,
    same year) matches several records of the other source equally, each record keeps one
    partner instead of all of them. Records without a source are never constrained."""
    records = list(records)
    parent: dict[Hashable, Hashable] = {r.id: r.id for r in records}
    sources: dict[Hashable, set[str]] = {r.id: {r.source} if r.source else set() for r in records}

    def find(x: Hashable) -> Hashable:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    matched: list[tuple[float, int, Hashable, Hashable]] = []
    for a, b in candidate_pairs(records, max_block=max_block):
        decision = match(a, b)
        if decision.same:
            matched.append((decision.score, len(matched), a.id, b.id))
    if one_per_source:
        matched.sort(key=lambda m: (-m[0], m[1]))
    for _, _, a_id, b_id in matched:
        root_a, root_b = find(a_id), find(b_id)
        if root_a == root_b:
            continue
        if one_per_source and sources[root_a] & sources[root_b]:
            continue
        parent[root_b] = root_a
        sources[root_a] |= sources.pop(root_b)
    groups: dict[Hashable, list[Hashable]] = defaultdict(list)
    for r in records:
        groups[find(r.id)].append(r.id)
    return list(groups.values())


# --- the display record -----------------------------------------------------------------------

# Leader/17 encoding level, best first: full (national agency, then others and OCLC's "I"),
# core, less-than-full, minimal, abbreviated, partial, prepublication (CIP), unknown.
_ENCODING_LEVELS = (" ", "1", "I", "4", "L", "2", "K", "7", "M", "3", "5", "8", "u", "z")
# Fields a fuller description has; local (9XX), holdings and control fields do not count.
_DESCRIPTIVE = re.compile(r"^(?:0[1-8][0-9]|[1-8][0-9][0-9])$")


def display_quality(record: pymarc.Record) -> tuple[int, int, int, int, int]:
    """How good a record is to show for a work, as a tuple to compare (larger is better):
    its text undamaged (no double-encoded UTF-8, no "?" or U+FFFD for lost characters), its
    encoding level (leader/17), who made it (LC original cataloguing in 040, PCC
    authentication in 042), how many descriptive fields it has, and its length."""
    damaged = 0
    length = 0
    fields = 0
    for field in record.fields:
        if field.is_control_field():
            length += len(field.data or "")
            continue
        text = " ".join(field.get_subfields(*"abcdefghijklmnopqrstuvwxyz"))
        length += len(text)
        if _DESCRIPTIVE.match(field.tag):
            fields += 1
            if "100" <= field.tag < "800" and _damaged(text):
                damaged += 1
    leader = str(record.leader)
    level = leader[17] if len(leader) > 17 else "u"
    rank = len(_ENCODING_LEVELS) - (
        _ENCODING_LEVELS.index(level) if level in _ENCODING_LEVELS else len(_ENCODING_LEVELS)
    )
    source = 0
    if any(value.strip().upper() == "DLC" for value in _subfields(record, "040", "a")):
        source += 1
    if any(value.strip().lower() == "pcc" for value in _subfields(record, "042", "a")):
        source += 1
    return (-damaged, rank, source, fields, length)


# A letter lost to a bad character-set conversion: "?" inside a word ("Kr?ll", "Mar?n").
_LOST_CHARACTER = re.compile(r"\w\?\w")


def _damaged(text: str) -> bool:
    return repair_mojibake(text) != text or "\ufffd" in text or bool(_LOST_CHARACTER.search(text))


def choose_display(records: Sequence[pymarc.Record]) -> int:
    """Which record of a cluster (pymarc records, as read from the libraries' files) to show
    for the work: the index of the best by `display_quality`, the first on a tie. Callers
    that trust some sources more can compare (their rank, display_quality(r)) themselves."""
    if not records:
        raise ValueError("no records to choose from")
    return max(range(len(records)), key=lambda i: (display_quality(records[i]), -i))


__all__ = [
    "CATALOGUE_WEIGHTS",
    "THRESHOLD",
    "WEIGHTS",
    "MatchDecision",
    "MatchRecord",
    "blocking_keys",
    "candidate_pairs",
    "carrier_of",
    "choose_display",
    "cluster",
    "display_quality",
    "features",
    "match",
    "score",
]
