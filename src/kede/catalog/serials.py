"""Serial holdings: who holds which years, volumes and issues of a journal. Pure: no Django.

Coverage arrives in three shapes, all read into one structure, `Coverage` (a list of `Span`s,
plus what could not be read and a note):

- MARC 866/867/868 textual holdings ("v.1(1975)-v.20(1994)", "1-15, 17-", "[v.2-9,
  1991-2000]", "1998-2005年", "第1卷(1975)-", "Current 5 years"), by `parse_textual_holdings`;
- MARC 853/863 (854/864, 855/865) captions and patterns paired with enumeration and
  chronology through $8, by `holdings_from_fields` / `holdings_by_location`;
- KBART title lists (date_first_issue_online … embargo_info), by `read_kbart` /
  `coverage_from_kbart`.

Supplements (867, 854/864) and indexes (868, 855/865) are kept apart from the basic run.

`covers(coverage, year=, volume=, issue=)` answers routing's question "does this library hold
volume 12 of 1998?" with True, False or None (the statement cannot say). `check_coverage` gives
the same answer with the reason, e.g. when a year had to be inferred from volume numbers.

Parsing never raises: what is not understood is returned as `Coverage.unparsed`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kede.catalog.normalise import title_key
from kede.core.identifiers import normalise_isbn, normalise_issn

MIN_YEAR = 1600  # a bare number from here to MAX_YEAR is read as a year, not a volume
MAX_YEAR = 2199


# --- the structure --------------------------------------------------------------------------


@dataclass(frozen=True)
class Embargo:
    """A KBART moving wall: "P1Y" = everything except the last year (kind "P"); "R6M" = only
    the last six months (kind "R"). Units D, M, Y."""

    kind: str
    amount: int
    unit: str

    def __str__(self) -> str:
        return f"{self.kind}{self.amount}{self.unit}"


@dataclass(frozen=True)
class Span:
    """One continuous run of a serial. A bound that the statement does not give is None; a run
    that goes on ("v.5-", KBART with no last issue) has `open_end`. A single volume or year is a
    span whose start and end are the same."""

    start_year: int | None = None
    start_volume: int | None = None
    start_issue: int | None = None
    end_year: int | None = None
    end_volume: int | None = None
    end_issue: int | None = None
    open_end: bool = False
    embargo: tuple[Embargo, ...] = ()
    incomplete: bool = False  # "[v.2-9]": held, with gaps not listed

    @property
    def has_years(self) -> bool:
        return self.start_year is not None or self.end_year is not None

    @property
    def has_volumes(self) -> bool:
        return self.start_volume is not None or self.end_volume is not None

    def __str__(self) -> str:
        def side(year: int | None, volume: int | None, issue: int | None) -> str:
            text = ""
            if volume is not None:
                text = f"v.{volume}"
            if issue is not None:
                text += f"{':' if text else ''}no.{issue}"
            if year is not None:
                text += f"({year})" if text else str(year)
            return text

        start = side(self.start_year, self.start_volume, self.start_issue)
        end = side(self.end_year, self.end_volume, self.end_issue)
        text = start if end == start and not self.open_end else f"{start}-{end}"
        if self.embargo:
            text += " [" + ";".join(str(e) for e in self.embargo) + "]"
        return f"[{text}]" if self.incomplete else text


@dataclass(frozen=True)
class Coverage:
    """What a statement says is held (`spans`), what it says is missing (`lacking`), the text
    that could not be read (`unparsed`, "" when all was read) and a note for people."""

    spans: tuple[Span, ...] = ()
    unparsed: str = ""
    note: str = ""
    lacking: tuple[Span, ...] = ()

    @property
    def parsed_fully(self) -> bool:
        return bool(self.spans) and not self.unparsed

    def __add__(self, other: Coverage) -> Coverage:
        return Coverage(
            spans=self.spans + other.spans,
            unparsed=_join("; ", self.unparsed, other.unparsed),
            note=_join("; ", self.note, other.note),
            lacking=self.lacking + other.lacking,
        )

    def __str__(self) -> str:
        return ", ".join(str(s) for s in self.spans)


def _join(sep: str, *parts: str) -> str:
    return sep.join(dict.fromkeys(p for p in parts if p))


EMPTY = Coverage()


# --- words ----------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MONTH_NAMES = (
    # English, French, German, Spanish, Italian, Dutch, Portuguese: names and abbreviations
    "jan january janv janvier januar jänner janner enero gennaio januari janeiro",
    "feb febr february fev fevr fevrier février februar febrero febbraio februari fevereiro",
    "mar march mars märz marz maerz marzo maart março marco",
    "apr april avr avril abril aprile",
    "may mai mayo maggio mei maio",
    "jun june juin juni junio giugno junho",
    "jul july juil juillet juli julio luglio julho",
    "aug august aout août agosto augustus",
    "sep sept september septembre septiembre settembre setembro set",
    "oct october octobre okt oktober octubre ottobre outubro out",
    "nov november novembre noviembre novembro",
    "dec december décembre decembre dez dezember diciembre dicembre dezembro",
)
_MONTHS = {word: n for n, names in enumerate(_MONTH_NAMES, start=1) for word in _words(names)}
_SEASONS = _words(
    "spring spr summer sum summ fall autumn aut winter win wint printemps ete été automne "
    "hiver frühjahr fruhjahr frühling fruhling sommer herbst primavera verano otoño otono "
    "invierno estate autunno inverno lente zomer herfst"
)
_CHRON_WORDS = set(_MONTHS) | _SEASONS | _words("quarter qtr semester special suppl")
# Captions of a volume-like level, and of an issue within it.
_VOLUME_CAPTIONS = _words(
    "v vol vols volume volumes bd band bde jahrg jg jahrgang jaarg jaargang t tome tomes tom "
    "tomo anno ano année annee annata god rocz rocznik evf årg arg argang årgang aarg knj "
    "kn sv svazek deel dl ser series reihe yr year 卷 巻 권 集 辑 輯 编 編"
)
_ISSUE_CAPTIONS = _words(
    "no nos nr nro num number numbers n heft hft h fasc fascicule fascicle fasz issue iss "
    "cislo č sz szam vyp vypusk pt part parts teil tl livr livraison lfg lieferung quad "
    "quaderno zesz zeszyt abt abteilung sect section sec bk book вып выпуск 期 号 號 호 册 冊"
)
_YEAR_CAPTIONS = _words("yr year jahr 年 년")
_CAPTIONS = _VOLUME_CAPTIONS | _ISSUE_CAPTIONS | _YEAR_CAPTIONS | _words("ns nf ser folge")
# Words that count physical things, not serial numbering: "80 reels", "fiche 1-5".
_PHYSICAL = _words(
    "reel reels fiche fiches microfiche microfiches microfilm box boxes plate plates map maps "
    "sheet sheets cassette cassettes disc discs disk disks item items copy copies c cd cds "
    "frontispiece binder folder folders mm cm"
)
_OPEN_WORDS = re.compile(
    r"\s*(?:-\s*)?(?:to\s+date|to\s+present|to\s+the\s+present|present|date|current|ff\.?|"
    r"至今|迄今|以来|以來|至現在|至现在|現在|现在|以降)\s*$",
    re.IGNORECASE,
)
_PREFIX = re.compile(
    r"^\s*(?:library\s+has|holdings?|held|bestand|fonds|馆藏|館藏|所蔵|소장)\s*[:.]?\s*",
    re.IGNORECASE,
)
_FROM = re.compile(
    r"^\s*(?:available\s+)?(?:from|since|starting(?:\s+with)?|ab|seit|dès|depuis|desde)\s+"
    r"(.+?)\.?\s*$",
    re.IGNORECASE,
)
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
}
_ROLLING = re.compile(
    r"(?:^|\b)(?:(?:the\s+)?(?:current|latest|last|most\s+recent|past)\s+"
    r"(?P<n>\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty)"
    r"\s*(?P<unit>years?|yrs?\.?|y|months?|mos?\.?|m|weeks?|days?)"
    r"|(?:current|latest)\s+(?P<unit1>year|month)s?(?:\s+only)?"
    r"|(?:近|最近|最新)\s*(?P<ncjk>\d{1,3})\s*(?P<ucjk>年|个月|個月|月))"
    r"(?:\s*(?:only|retained|kept|held|on\s+shelf|available))*\s*\.?",
    re.IGNORECASE,
)
_INCOMPLETE = re.compile(
    r"\(?\b(?:incomplete|inc\.|imperfect|scattered\s+issues|some\s+issues\s+missing|"
    r"unvollständig|unvollst\.|lückenhaft|luckenhaft|incompleto|incomplet)(?=\W|$)\)?"
    r"|\(?(?:不全|缺期|残缺|殘缺)\)?",
    re.IGNORECASE,
)
_LACKS = re.compile(
    r"[(\[]?\s*\b(?:lacks|lacking|wanting|missing|library\s+lacks|fehlt|fehlen|manque|"
    r"manquent|faltan?)\b\s*:?\s*|[(\[]?\s*(?:缺|欠)\s*",
    re.IGNORECASE,
)


# --- tokens ---------------------------------------------------------------------------------

_CJK_CAPTIONS = "第卷巻期号號册冊年月日集辑輯编編제권호년월"
_TOKEN = re.compile(
    r"(?P<num>[0-9]+)(?:(?:st|nd|rd|th|er|re|e|te|ter|a|o)(?![^\W\d_])|[A-Za-z](?![^\W\d_]))?"
    rf"|(?P<cjk>[{_CJK_CAPTIONS}])"
    r"|(?P<word>[^\W\d_]+\.?(?:[^\W\d_]+\.)*)"
    r"|(?P<punct>[-/:,;()\[\]=+&.?<>])"
    r"|(?P<ws>\s+)"
    r"|(?P<other>.)"
)


@dataclass
class _Tok:
    kind: str  # num, cjk, word, punct, ws, other
    text: str
    start: int
    end: int
    value: int = 0


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        value = int(m.group("num")[:9]) if kind == "num" else 0
        out.append(_Tok(kind, m.group(0), m.start(), m.end(), value))
    return out


def _caption(word: str) -> str:
    return word.lower().rstrip(".")


# --- chronology inside parentheses ----------------------------------------------------------

_Chron = list[tuple[int | None, int | None, bool]]  # (first year, last year, open end)
_CHRON_ALLOWED = re.compile(r"^[\s0-9\-/:,.;年月日季]*$")


def _complete_year(value: int, previous: int | None) -> int | None:
    """A year; two digits only after a four-digit year ("1981-88" -> 1988)."""
    if MIN_YEAR <= value <= MAX_YEAR:
        return value
    if value < 100 and previous is not None:
        candidate = previous - previous % 100 + value
        if candidate < previous:
            candidate += 100
        return candidate
    return None


def _chron_side(text: str, previous: int | None) -> tuple[int | None, int | None, bool]:
    """(first year, last year, ok) of one side of a chronology range; ok is False when a
    number in it can be neither a year nor a day ("11986")."""
    years: list[int] = []
    ok = True
    for m in re.finditer(r"[0-9]+", text):
        digits = m.group(0)
        value = int(digits[:9])
        if len(digits) == 4:
            year = _complete_year(value, None)
            if year is None:
                ok = False
            else:
                years.append(year)
        elif len(digits) == 2 and years and text[m.start() - 1 : m.start()] == "/":
            year = _complete_year(value, years[-1])  # "1909/10"
            if year is not None:
                years.append(year)
        elif len(digits) == 2 and not years and previous is not None and text.strip(" .") == digits:
            year = _complete_year(value, previous)  # "1981-88"
            if year is not None:
                years.append(year)
        elif len(digits) > 4 or (len(digits) == 3 and value > 366):
            ok = False
    if not years:
        return None, None, ok
    return years[0], years[-1], ok


def _parse_chronology(inner: str) -> tuple[_Chron | None, bool]:
    """The years of a parenthesised chronology "(1975-1994)", "(1998:Mar.)", "(1767:Dec.21-
    1770:June 25)", "(1979/2008-2012,2013-2016)" as (start, end, open) ranges and whether all
    of it was understood; (None, False) when the parentheses hold something else
    ("(Magdeburg, Germany)", "(suppl.)")."""
    for word in re.findall(r"[^\W\d_]+", inner):
        if word not in "年月日季" and word.lower() not in _CHRON_WORDS:
            return None, False
    stripped = re.sub(r"[^\W\d_]+", " ", inner)
    if not _CHRON_ALLOWED.match(stripped) or not re.search(r"[0-9]", stripped):
        return None, False
    # A comma separates ranges only when each part has its own year ("JUN 27, 1999" is one).
    parts = re.split(r"[,;]", stripped)
    if len(parts) > 1 and not all(re.search(r"[0-9]{4}", p) for p in parts if p.strip()):
        parts = [stripped]
    ranges: _Chron = []
    all_ok = True
    for part in parts:
        if not part.strip():
            continue
        left, dash, right = part.partition("-")
        first, last, ok = _chron_side(left, None)
        all_ok = all_ok and ok
        if not dash:
            ranges.append((first, last, False))
        elif not right.strip():
            ranges.append((first, None, True))
        else:
            _e_first, e_last, ok2 = _chron_side(right, last)
            all_ok = all_ok and ok2
            ranges.append((first, e_last if e_last is not None else last, False))  # "May-Dec."
    if not ranges or all(a is None and b is None for a, b, _ in ranges):
        return None, False
    return ranges, all_ok


def _chron_bounds(chron: _Chron) -> tuple[int | None, int | None]:
    first, last = chron[0], chron[-1]
    start = first[0]
    end = last[1] if last[1] is not None else (None if last[2] else last[0])
    return start, end


# --- the textual holdings parser ------------------------------------------------------------


@dataclass
class _Level:
    caption: str  # lower-case, without the final dot; "" when none
    value: int
    value2: int | None = None  # "25/26"
    is_year: bool = False


@dataclass
class _Item:
    start: list[_Level]
    end: list[_Level] | None = None  # None: a single point
    open_end: bool = False
    start_chron: _Chron | None = None  # "v.1(1975)-…"
    end_chron: _Chron | None = None  # "…-v.20(1994)"
    chron: _Chron | None = None  # "v.1-20 (1975-1994)": for the whole item
    incomplete: bool = False
    sep_before: str = ""  # the separator before this item: "," ";" "." " " or ""
    series: str = ""

    @property
    def has_chron(self) -> bool:
        return self.chron is not None or self.start_chron is not None or self.end_chron is not None

    @property
    def enum_only(self) -> bool:
        levels = self.start + (self.end or [])
        return not any(lv.is_year for lv in levels) and not self.has_chron

    @property
    def chron_only(self) -> bool:
        levels = self.start + (self.end or [])
        return all(lv.is_year and lv.caption in ("", "年") for lv in levels) and not self.has_chron


_SERIES = re.compile(
    r"^(?:n\.?s|n\.?f|ser|series|new\s+ser|nouv\.?\s*s[ée]r|folge|reihe|s)\.?$", re.I
)


class _Parser:
    """A forgiving reader of ANSI/NISO Z39.71-style textual holdings. Tokens it does not
    understand are set aside (as spans of the text) and reading goes on."""

    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.items: list[_Item] = []
        self.skipped: list[tuple[int, int]] = []
        self.physical: list[tuple[int, int]] = []
        self.notes: list[str] = []
        self.bracket = 0
        self.pending_sep = ""
        self.series = ""
        self.in_physical = False

    # token helpers
    def peek(self, offset: int = 0, skip_ws: bool = True) -> _Tok | None:
        seen = 0
        for j in range(self.i, len(self.toks)):
            tok = self.toks[j]
            if skip_ws and tok.kind == "ws":
                continue
            if seen == offset:
                return tok
            seen += 1
        return None

    def take(self) -> _Tok:
        while self.toks[self.i].kind == "ws":
            self.i += 1
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == kind and tok.text == text

    def last_end(self) -> int:
        return self.toks[self.i - 1].end if self.i else 0

    # grammar
    def starts_level(self) -> bool:
        tok = self.peek()
        nxt = self.peek(1)
        if tok is None:
            return False
        if tok.kind == "num":
            return True
        if nxt is None or nxt.kind != "num":
            return False
        if tok.kind == "cjk":
            return tok.text in "第제"
        if tok.kind == "word":
            caption = _caption(tok.text)
            if caption in _MONTHS:
                return nxt.value > 31
            # a caption is a known one, or any abbreviation ("annee.188", "knj.9"); other words
            # before a number ("keep me 1") are not numbering
            return caption in _CAPTIONS or caption in _PHYSICAL or tok.text.endswith(".")
        return tok.kind == "punct" and tok.text == "<"  # "<1>-": provisional

    def level(self) -> _Level | None:
        caption = ""
        tok = self.take()
        if tok.kind == "word":
            caption = _caption(tok.text)
        if tok.kind != "num":
            tok = self.take()
        if tok.kind != "num":
            return None
        lvl = _Level(caption, tok.value)
        if self.at("punct", ">"):
            self.take()
        nxt = self.peek(1)
        if self.at("punct", "/") and nxt is not None and nxt.kind == "num":
            # "25/26", "1983/1984", "1909/10": combined numbers
            self.take()
            second = self.take().value
            if lvl.value >= MIN_YEAR and second < 100:
                second = _complete_year(second, lvl.value) or second
            lvl.value2 = second
        tok = self.peek(skip_ws=False)
        if tok is not None and tok.kind == "cjk" and tok.text not in "第제":
            self.take()  # a caption after the number: "5卷", "1998年", "1巻"
            lvl.caption = tok.text
        return lvl

    def point(self) -> list[_Level]:
        first = self.level()
        if first is None:
            return []
        levels = [first]
        while (tok := self.peek(skip_ws=False)) is not None:
            nxt = self.peek(1) if tok.kind != "ws" else self.peek()
            if tok.kind == "punct" and tok.text == ":" and nxt is not None:
                if nxt.kind == "word" and _caption(nxt.text) in _CHRON_WORDS:
                    # "1998:Mar.", "1991:Mai 20": chronology finer than years
                    self.take()
                    self.take()
                    day = self.peek()
                    if day is not None and day.kind == "num" and day.value <= 31:
                        self.take()
                    continue
                save = self.i
                self.take()
                if self.starts_level() and (lvl := self.level()) is not None:
                    levels.append(lvl)
                    continue
                self.i = save
                break
            continues = (
                (tok.kind == "cjk" and tok.text in "第제")  # "第1卷第2期"
                or (tok.kind == "num" and levels[-1].caption in "卷巻권年년")  # "1卷1号"
                or (
                    # "v.191 no.1-11": an issue caption after a space continues the point
                    tok.kind == "ws"
                    and nxt is not None
                    and nxt.kind == "word"
                    and _caption(nxt.text) in _ISSUE_CAPTIONS
                    and levels[-1].caption not in _ISSUE_CAPTIONS
                    and (after := self.peek(1)) is not None
                    and after.kind == "num"
                )
            )
            if continues and self.starts_level() and (lvl := self.level()) is not None:
                levels.append(lvl)
                continue
            break
        return levels

    def paren(self) -> _Chron | None:
        """At "(": the chronology inside, consumed; None (nothing consumed) if it is not one.
        Years that cannot be read ("(11986-1987)") are kept aside as unparsed."""
        if not self.at("punct", "("):
            return None
        j, depth = self.i, 0
        while self.toks[j].kind == "ws":
            j += 1
        first = j
        for j in range(first, len(self.toks)):
            tok = self.toks[j]
            if tok.kind == "punct" and tok.text in "()":
                depth += 1 if tok.text == "(" else -1
                if depth == 0:
                    break
        else:
            return None
        inner = "".join(t.text for t in self.toks[first + 1 : j])
        chron, ok = _parse_chronology(inner)
        if chron is None:
            return None
        if not ok:
            self.skipped.append((self.toks[first].start, self.toks[j].end))
        self.i = j + 1
        return chron

    def item(self) -> _Item | None:
        save = self.i
        first_tok = self.peek()
        start = self.point()
        if not start or first_tok is None:
            self.i = save
            return None
        it = _Item(start=start, series=self.series)
        physical = first_tok.kind == "word" and _caption(first_tok.text) in _PHYSICAL
        it.start_chron = self.paren()
        if it.start_chron is not None and it.start_chron[-1][2]:
            it.open_end = True  # "v.1 (1990-)"
        if self.at("punct", "-"):
            self.take()
            if self.starts_level():
                it.end = self.point()
                chron = self.paren()
                if chron is not None and it.start_chron is None:
                    it.chron = chron  # "v.1-20 (1975-1994)": the years of the whole range
                else:
                    it.end_chron = chron
            else:
                it.open_end = True
        tok = self.peek()
        if tok is not None and tok.kind == "word" and _caption(tok.text) in _PHYSICAL:
            self.take()  # "80 reels"
            physical = True
        if not it.has_chron:
            it.chron = self.paren()
            if it.chron is not None and it.chron[-1][2]:
                it.open_end = True
        if physical:
            self.physical.append((first_tok.start, self.last_end()))
            return None
        return it

    def parse(self) -> None:
        while (tok := self.peek()) is not None:
            nxt = self.peek(1)
            if tok.kind == "punct" and tok.text in ",;.&+":
                self.take()
                self.pending_sep = _stronger(self.pending_sep, tok.text)
            elif tok.kind == "word" and tok.text.lower() in ("and", "und", "et", "y", "e", "&"):
                self.take()
                self.pending_sep = _stronger(self.pending_sep, ",")
            elif tok.kind == "punct" and tok.text == "[":
                self.take()
                self.bracket += 1
                self.pending_sep = _stronger(self.pending_sep, ";")
            elif tok.kind == "punct" and tok.text == "]":
                self.take()
                self.bracket = max(0, self.bracket - 1)
                if self.at("punct", "-") and self.items:
                    self.take()
                    self.continue_after_bracket()
                self.pending_sep = _stronger(self.pending_sep, ";")
            elif (
                tok.kind == "word"
                and nxt is not None
                and nxt.text == ":"
                and _SERIES.match(tok.text)
                and self.peek(2) is not None
            ):
                self.take()  # "n.s.:v.1", "ser.2:": a new series, numbered from 1 again
                self.take()
                self.series = _caption(tok.text)
                self.notes.append(f"series {tok.text!r}: numbering starts again")
            elif self.starts_level():
                save = self.i
                it = self.item()
                if it is None and self.i != save:
                    self.in_physical = True
                elif (
                    it is not None
                    and self.in_physical
                    and self.pending_sep in (",", " ")
                    and not it.start[0].caption
                ):
                    self.physical.append((tok.start, self.last_end()))
                    it = None
                else:
                    self.in_physical = False
                if it is not None:
                    it.sep_before = self.pending_sep or (" " if self.items else "")
                    it.incomplete = self.bracket > 0
                    self.items.append(it)
                elif self.i == save:
                    self.take()
                    self.skipped.append((tok.start, tok.end))
                self.pending_sep = ""
            elif tok.kind == "punct" and tok.text == "(" and (chron := self.paren()) is not None:
                last = self.items[-1] if self.items else None
                if last is not None and not last.has_chron and not self.pending_sep:
                    last.chron = chron
                elif (year := chron[0][0] or chron[0][1]) is not None:
                    # "EDICAO ESPECIAL VIP (2005)": a supplement's name, then its years
                    it = _Item(start=[_Level("", year, is_year=True)], chron=chron)
                    it.open_end = chron[-1][2]
                    it.sep_before = self.pending_sep or (" " if self.items else "")
                    it.incomplete = self.bracket > 0
                    self.items.append(it)
                    self.pending_sep = ""
                else:
                    self.skipped.append((tok.start, self.last_end()))
            elif tok.kind == "punct" and tok.text == "(":
                self.skip_parenthesis()
            elif tok.kind == "punct" and tok.text == "=":
                # "v.1=no.1": an alternative numbering; the first one is kept
                self.take()
                while (t := self.peek()) is not None and t.text not in ",;(":
                    self.take()
                self.notes.append("alternative numbering ignored")
            else:
                self.take()
                if not (tok.kind == "punct" and tok.text in ":/"):
                    self.skipped.append((tok.start, tok.end))

    def skip_parenthesis(self) -> None:
        """ "(Magdeburg, Germany: 1893)", "(867)": not chronology; set aside up to ")"."""
        start = self.take()
        depth = 1
        end = start.end
        while self.i < len(self.toks) and depth:
            tok = self.toks[self.i]
            self.i += 1
            end = tok.end
            if tok.kind == "punct" and tok.text in "()":
                depth += 1 if tok.text == "(" else -1
        self.skipped.append((start.start, end))

    def continue_after_bracket(self) -> None:
        """ "[v.50(1933)]-v.193(2005)": the bracketed start runs on to an end."""
        last = self.items[-1]
        self.notes.append("partly incomplete")
        start = _align_end(last.start, last.end) if last.end else last.start
        new = _Item(start=start, start_chron=last.end_chron or last.start_chron, series=last.series)
        if last.chron is not None and last.end is None:
            new.start_chron = last.chron
        if self.starts_level():
            new.end = self.point()
            new.end_chron = self.paren()
        else:
            new.open_end = True
        new.sep_before = ";"
        if last.end is None:
            # the bracket held just the start: the run replaces it
            self.items[-1] = new
        else:
            self.items.append(new)


def _stronger(a: str, b: str) -> str:
    order = {"": 0, " ": 1, ",": 2, "&": 2, "+": 2, ".": 3, ";": 4}
    return a if order.get(a, 0) >= order.get(b, 0) else b


def _mark_years(items: list[_Item]) -> None:
    """Decide which levels are years: a bare number from MIN_YEAR to MAX_YEAR at the top of a
    point, or a level captioned "年"/"yr."; the end of a range is read like its start."""
    for it in items:
        for levels in (it.start, it.end or []):
            for pos, lv in enumerate(levels):
                plausible = MIN_YEAR <= lv.value <= MAX_YEAR
                if plausible and (lv.caption in _YEAR_CAPTIONS or (lv.caption == "" and pos == 0)):
                    lv.is_year = True
        if not it.end:
            continue
        s0, e0 = it.start[0], it.end[0]
        if e0.caption in _VOLUME_CAPTIONS | _ISSUE_CAPTIONS and s0.caption == "":
            s0.is_year = False  # "1-5卷"
        if e0.caption == "年" and s0.caption == "":
            s0.is_year = MIN_YEAR <= s0.value <= MAX_YEAR  # "1998-2005年"
        if e0.caption or len(it.end) > len(it.start):
            continue
        aligned = it.start[len(it.start) - len(it.end)]
        if aligned.is_year and not e0.is_year:
            year = _complete_year(e0.value, aligned.value2 or aligned.value)  # "1981-88"
            if year is not None:
                e0.value, e0.is_year = year, True
        elif not aligned.is_year and e0.is_year:
            e0.is_year = False  # "[102-1797]": numbering throughout


def _align_end(start: list[_Level], end: list[_Level]) -> list[_Level]:
    """The end of a range written short: "v.12:no.3-5" ends at v.12:no.5, "v.1:no.1-no.5" at
    v.1:no.5; "v.1-3:no.26" and "v.1:no.2-v.4" are whole already. Levels of the end without a
    caption take the caption of the start's level they stand for."""
    if len(end) >= len(start):
        aligned = list(end)
        offset = 0
    elif end[0].caption:
        offset = next((k for k in range(len(start)) if start[k].caption == end[0].caption), 0)
        aligned = start[:offset] + end
    else:
        offset = len(start) - len(end)
        aligned = start[:offset] + end
    out = []
    for k, lv in enumerate(aligned):
        if k >= offset and not lv.caption and k < len(start) and start[k].caption:
            lv = _Level(start[k].caption, lv.value, lv.value2, lv.is_year)
        out.append(lv)
    return out


def _values(levels: list[_Level], end: bool) -> tuple[int | None, int | None, int | None]:
    """(year, volume, issue) of a point. After a year ("1995:no.1", "2008 $b33" under a
    "(yr.)" caption) the next number is an issue unless it is captioned as a volume."""
    year: int | None = None
    enums: list[_Level] = []
    for lv in levels:
        if lv.is_year:
            value = lv.value2 if (end and lv.value2) else lv.value
            year = value if (year is None or end) else year
        else:
            enums.append(lv)

    def pick(lv: _Level) -> int:
        return lv.value2 if (end and lv.value2 is not None) else lv.value

    volume = issue = None
    year_first = bool(levels) and levels[0].is_year
    if year_first and enums and enums[0].caption not in _VOLUME_CAPTIONS:
        issue = pick(enums[0])
    else:
        if enums:
            volume = pick(enums[0])
        if len(enums) > 1:
            issue = pick(enums[1])
    return year, volume, issue


def _item_span(it: _Item) -> Span:
    end_levels = _align_end(it.start, it.end) if it.end else it.start
    sy, sv, si = _values(it.start, end=False)
    ey, ev, ei = _values(end_levels, end=True)
    if it.start_chron is not None:
        first, last = _chron_bounds(it.start_chron)
        sy = first if first is not None else sy
        if it.end is None:
            ey = last if last is not None else first
    if it.end_chron is not None:
        first, last = _chron_bounds(it.end_chron)
        ey = last if last is not None else first
    if it.chron is not None:
        first, last = _chron_bounds(it.chron)
        sy = first if first is not None else sy
        ey = last if last is not None else (None if it.open_end else first)
    if it.open_end and it.end is None:
        ev = ei = None  # "v.5-", "1990-": nothing known about the end
        if it.chron is None or it.chron[-1][2]:
            ey = None
    return Span(
        start_year=sy,
        start_volume=sv,
        start_issue=si,
        end_year=ey,
        end_volume=ev,
        end_issue=ei,
        open_end=it.open_end,
        incomplete=it.incomplete,
    )


def _post_process(items: list[_Item]) -> list[_Item]:
    """Put back together what commas split: "34-41, 1981-88" (numbers, then their years),
    "v.184:no.1-4, 6" (issue 6 of v.184), "v.176:no.1,3-4,6 (2006)" (all in 2006)."""
    merged: list[_Item] = []
    for it in items:
        prev = merged[-1] if merged else None
        if prev is None or it.sep_before not in (",", " "):
            merged.append(it)
            continue
        if (
            prev.enum_only
            and it.chron_only
            and prev.incomplete == it.incomplete
            and not prev.open_end
        ):
            last = (it.end or it.start)[0]
            end = None if it.open_end else (last.value2 or last.value)
            prev.chron = [(it.start[0].value, end, it.open_end)]
            prev.open_end = it.open_end
            continue
        head = it.start[0]
        if it.sep_before == "," and not head.caption and not head.is_year and len(it.start) == 1:
            ref = _align_end(prev.start, prev.end) if prev.end else prev.start
            if len(ref) >= 2:  # "v.184:no.1-4, 6": the 6 is an issue of v.184
                it.start = _align_end(ref, it.start)
                if it.end is not None and len(it.end) == 1 and not it.end[0].caption:
                    it.end = _align_end(ref, it.end)
        merged.append(it)
    # a chronology after the last of a comma-run belongs to the whole run
    run: list[_Item] = []
    for it in [*merged, None]:
        if it is not None and (not run or it.sep_before == ","):
            run.append(it)
            continue
        last = None
        if run:
            tail = run[-1]
            last = tail.chron or (tail.start_chron if tail.end is None else None)
        if len(run) > 1 and last is not None and all(r.enum_only for r in run[:-1]):
            if len(last) == len(run):
                for r, c in zip(run, last, strict=True):
                    r.chron = [c]
            elif len({_values(r.start, end=False)[1] for r in run}) == 1:
                for r in run[:-1]:  # issues of one volume: all in its years
                    r.chron = [(last[0][0], last[-1][1], False)]
            else:
                run[0].chron = [(last[0][0], None, False)]
                run[-1].chron = [(None, last[-1][1], last[-1][2])]
        run = [it] if it is not None else []
    return merged


def _prepare(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    for dash in ("–", "—", "‐", "‑", "−", "~", "〜", "至"):
        text = text.replace(dash, "-")
    text = text.replace("、", ",").replace("。", ".")
    return " ".join(text.split())


def _rolling(text: str) -> tuple[Span | None, str]:
    m = _ROLLING.search(text)
    if m is None:
        return None, text
    if m.group("ncjk"):
        amount = int(m.group("ncjk"))
        unit = "Y" if m.group("ucjk") == "年" else "M"
    elif m.group("unit1"):
        amount, unit = 1, m.group("unit1")[0].upper()
    else:
        n = m.group("n").lower()
        amount = int(n) if n.isdigit() else _NUMBER_WORDS[n]
        word = m.group("unit").lower()
        if word.startswith("w"):
            amount, unit = amount * 7, "D"
        else:
            unit = {"d": "D", "m": "M"}.get(word[0], "Y")
    rest = (text[: m.start()] + " " + text[m.end() :]).strip(" ,;.")
    return Span(open_end=True, embargo=(Embargo("R", amount, unit),)), rest


def parse_textual_holdings(text: str) -> Coverage:
    """Read an 866/867/868 $a (or any textual holdings statement) into spans. Never raises:
    what is not understood comes back as `Coverage.unparsed`."""
    if not isinstance(text, str):
        return Coverage(unparsed=repr(text)[:200], note="not text")
    prepared = _prepare(text)
    if not prepared:
        return EMPTY
    notes: list[str] = []
    spans: list[Span] = []
    lacking: tuple[Span, ...] = ()
    extra_unparsed: list[str] = []

    rolling, prepared = _rolling(prepared)
    if rolling is not None:
        spans.append(rolling)
        notes.append(f"rolling: the latest {rolling.embargo[0].amount}{rolling.embargo[0].unit}")

    incomplete_all = _INCOMPLETE.search(prepared) is not None
    if incomplete_all:
        notes.append("incomplete")
        prepared = _INCOMPLETE.sub(" ", prepared).strip()

    lacks = _LACKS.search(prepared)
    if lacks is not None:
        rest = prepared[lacks.end() :]
        close = rest.find(")") if "(" in lacks.group(0) else -1
        lack_text = (rest[:close] if close >= 0 else rest).strip(" .;,")
        prepared = prepared[: lacks.start()] + " " + (rest[close + 1 :] if close >= 0 else "")
        prepared = prepared.strip()
        lacked = _parse_body(lack_text)
        lacking = lacked.spans
        notes.append(f"lacks {lack_text}")
        if lacked.unparsed:
            extra_unparsed.append(f"lacks {lacked.unparsed}")

    prepared = _PREFIX.sub("", prepared)
    if (from_match := _FROM.match(prepared)) is not None:
        prepared = from_match.group(1).rstrip("- ") + "-"
    if (open_match := _OPEN_WORDS.search(prepared)) is not None and open_match.start() > 0:
        prepared = prepared[: open_match.start()].rstrip(" -") + "-"

    body = _parse_body(prepared)
    spans.extend(body.spans)
    if incomplete_all:
        spans = [replace(s, incomplete=True) for s in spans]  # "v.1-20 incomplete"
    return Coverage(
        spans=tuple(spans),
        unparsed=_join(" ", body.unparsed, *extra_unparsed),
        note=_join("; ", *notes, body.note),
        lacking=lacking,
    )


def _merge_ranges(text: str, ranges: list[tuple[int, int]]) -> list[str]:
    out: list[list[int]] = []
    for start, end in sorted(ranges):
        if out and not text[out[-1][1] : start].strip(" ,;.:"):
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [text[a:b].strip() for a, b in out if text[a:b].strip(" ,;.:()-")]


def _parse_body(text: str) -> Coverage:
    parser = _Parser(text)
    try:
        parser.parse()
    except IndexError:  # ran off the end of the tokens: keep what was read
        rest = parser.toks[parser.i :] if parser.i < len(parser.toks) else []
        if rest:
            parser.skipped.append((rest[0].start, rest[-1].end))
    items = parser.items
    _mark_years(items)
    items = _post_process(items)
    spans = tuple(_item_span(it) for it in items)
    unparsed = _merge_ranges(text, parser.skipped + parser.physical)
    if parser.physical:
        parser.notes.append("counts of physical units (reels, fiche…) are not serial numbering")
    return Coverage(spans=spans, unparsed=" … ".join(unparsed), note=_join("; ", *parser.notes))


# --- MARC holdings: 853/863 pairs, 866-868 --------------------------------------------------

_ENUM_CODES = "abcdef"  # g, h are alternative numbering
_CHRON_CODES = "ijkl"
_PAIRS = {"863": "853", "864": "854", "865": "855"}
_KIND = {
    "853": "basic",
    "863": "basic",
    "866": "basic",
    "854": "supplements",
    "864": "supplements",
    "867": "supplements",
    "855": "indexes",
    "865": "indexes",
    "868": "indexes",
}


@dataclass(frozen=True)
class MarcHoldingsField:
    """A holdings field in plain form, so this module needs no MARC library."""

    tag: str
    subfields: tuple[tuple[str, str], ...]
    ind1: str = " "
    ind2: str = " "

    def get(self, code: str) -> list[str]:
        return [v for c, v in self.subfields if c == code]


@dataclass(frozen=True)
class Holdings:
    """One holding (one MARC 852 location with its 85X/86X fields): the basic run, its
    supplements and its indexes, each as a Coverage."""

    location: str = ""
    basic: Coverage = EMPTY
    supplements: Coverage = EMPTY
    indexes: Coverage = EMPTY
    public_notes: tuple[str, ...] = ()


def _link(field: MarcHoldingsField) -> tuple[str, str]:
    values = field.get("8")
    if not values:
        return "", ""
    link, _, seq = values[0].strip().partition(".")
    return link, seq


def _split_value(value: str) -> tuple[str, str | None]:
    """ "1-15" -> ("1", "15"); "10-" -> ("10", ""); "5" -> ("5", None)."""
    value = value.strip().replace("<", "").replace(">", "")
    if "-" in value:
        left, _, right = value.partition("-")
        return left.strip(), right.strip()
    return value, None


_LEADING_INT = re.compile(r"^\s*([0-9]{1,9})")


def _int_part(value: str) -> tuple[int | None, int | None]:
    """ "25/26" -> (25, 26); "58A" -> (58, None); "SPR" -> (None, None)."""
    first, _, second = value.partition("/")
    m1 = _LEADING_INT.match(first)
    m2 = _LEADING_INT.match(second) if second else None
    return (
        int(m1.group(1)) if m1 else None,
        int(m2.group(1)) if m2 else None,
    )


def parse_enumeration(
    captions: MarcHoldingsField | None, values: MarcHoldingsField
) -> tuple[Span | None, str]:
    """One 863/864/865 read with its 853/854/855 captions: (span, what was not understood)."""
    problems: list[str] = []
    start_levels: list[_Level] = []
    end_levels: list[_Level] = []
    open_end = False
    for code in _ENUM_CODES + _CHRON_CODES:
        raw = values.get(code)
        if not raw:
            continue
        caption_raw = captions.get(code)[0] if captions is not None and captions.get(code) else ""
        caption = caption_raw.strip().lower()
        if code in _CHRON_CODES:
            if caption and "year" not in caption and "yr" not in caption and code != "i":
                continue  # month, day, season: finer than we answer
            if code != "i" and not caption:
                continue
            is_year = True
        else:
            is_year = caption.startswith("(") and ("year" in caption or "yr" in caption)
            if caption.startswith("(") and not is_year:
                continue  # "(month)", "(season)" used as numbering
        left, right = _split_value(raw[0])
        lo, lo2 = _int_part(left)
        if lo is None:
            if left:
                problems.append(f"${code} {raw[0]}")
            continue
        if is_year and _complete_year(lo, None) is None:
            problems.append(f"${code} {raw[0]}: not a year")
            continue
        level = _Level(_caption(caption.strip("()")), lo, lo2, is_year=is_year)
        if is_year and lo2 is not None and lo2 < 100:
            level.value2 = _complete_year(lo2, lo)
        start_levels.append(level)
        if right is None:
            end_levels.append(_Level(level.caption, lo, level.value2, is_year=is_year))
        elif right == "":
            open_end = True
        else:
            hi, hi2 = _int_part(right)
            if hi is None:
                problems.append(f"${code} {raw[0]}")
                continue
            if is_year:
                hi = _complete_year(hi, lo) or hi
            end_levels.append(_Level(level.caption, hi, hi2, is_year=is_year))
    if not start_levels:
        return None, "; ".join(problems)
    sy, sv, si = _values(start_levels, end=False)
    ey, ev, ei = (None, None, None) if open_end else _values(end_levels, end=True)
    span = Span(
        start_year=sy,
        start_volume=sv,
        start_issue=si,
        end_year=ey,
        end_volume=ev,
        end_issue=ei,
        open_end=open_end,
    )
    return span, "; ".join(problems)


def holdings_statements(
    fields: Iterable[MarcHoldingsField],
) -> list[tuple[MarcHoldingsField, Coverage]]:
    """Each 863-868 field of one holding read on its own: 866-868 $a as text, 863-865 with the
    853-855 captions of the same $8 link. (For counting what parses; `holdings_from_fields`
    puts them together.)"""
    fields = list(fields)
    captions: dict[tuple[str, str], MarcHoldingsField] = {}
    for f in fields:
        if f.tag in ("853", "854", "855"):
            captions[(f.tag, _link(f)[0])] = f
    out: list[tuple[MarcHoldingsField, Coverage]] = []
    for f in fields:
        if f.tag in ("866", "867", "868"):
            texts = f.get("a")
            coverage = sum((parse_textual_holdings(t) for t in texts), EMPTY)
            out.append((f, coverage))
        elif f.tag in _PAIRS:
            link = _link(f)[0]
            caption = captions.get((_PAIRS[f.tag], link))
            span, problem = parse_enumeration(caption, f)
            note = "" if caption is not None else f"no {_PAIRS[f.tag]} captions for link {link!r}"
            out.append((f, Coverage(spans=(span,) if span else (), unparsed=problem, note=note)))
    return out


def holdings_from_fields(fields: Iterable[MarcHoldingsField], location: str = "") -> Holdings:
    """One holding from its 853-868 fields: textual statements (866-868) and
    caption/enumeration pairs (853/863, 854/864, 855/865, linked by $8), with the basic run,
    supplements and indexes kept apart."""
    fields = list(fields)
    parts: dict[str, Coverage] = {"basic": EMPTY, "supplements": EMPTY, "indexes": EMPTY}
    for f, coverage in holdings_statements(fields):
        parts[_KIND[f.tag]] = parts[_KIND[f.tag]] + coverage
    notes = [v.strip() for f in fields if f.tag in _KIND for v in f.get("z") if v.strip()]
    return Holdings(
        location=location,
        basic=parts["basic"],
        supplements=parts["supplements"],
        indexes=parts["indexes"],
        public_notes=tuple(dict.fromkeys(notes)),
    )


def fields_from_record(record: Any) -> list[MarcHoldingsField]:
    """The 852-868 fields of a pymarc Record (or anything with `.fields` of objects that have
    `.tag`, `.indicators` and `.subfields`), in order, as MarcHoldingsField."""
    out: list[MarcHoldingsField] = []
    for f in getattr(record, "fields", None) or []:
        tag = str(getattr(f, "tag", ""))
        if not (tag == "852" or "853" <= tag <= "868"):
            continue
        subs = getattr(f, "subfields", None) or []
        pairs = tuple((str(getattr(s, "code", "")), str(getattr(s, "value", ""))) for s in subs)
        ind = list(getattr(f, "indicators", None) or [])
        ind1 = str(ind[0]) if len(ind) > 0 else " "
        ind2 = str(ind[1]) if len(ind) > 1 else " "
        out.append(MarcHoldingsField(tag, pairs, ind1, ind2))
    return out


def group_by_location(
    fields: Iterable[MarcHoldingsField],
) -> list[tuple[str, list[MarcHoldingsField]]]:
    """The 853-868 fields after an 852, up to the next one, belong to it (the order of a merged
    bibliographic+holdings record); fields before any 852 form a group with no location. The
    location is 852 $a $b $c."""
    groups: list[tuple[str, list[MarcHoldingsField]]] = []
    current: tuple[str, list[MarcHoldingsField]] | None = None
    for f in fields:
        if f.tag == "852":
            label = " ".join(v.strip() for c, v in f.subfields if c in "abc" and v.strip())
            current = (label, [])
            groups.append(current)
            continue
        if current is None:
            current = ("", [])
            groups.append(current)
        current[1].append(f)
    return [(loc, fs) for loc, fs in groups if fs]


def holdings_by_location(record: Any) -> list[Holdings]:
    """The holdings of a bibliographic or holdings record, one per 852 location."""
    return [
        holdings_from_fields(fs, location=loc)
        for loc, fs in group_by_location(fields_from_record(record))
    ]


# --- KBART ----------------------------------------------------------------------------------

KBART_COLUMNS = (
    "publication_title",
    "print_identifier",
    "online_identifier",
    "date_first_issue_online",
    "num_first_vol_online",
    "num_first_issue_online",
    "date_last_issue_online",
    "num_last_vol_online",
    "num_last_issue_online",
    "title_url",
    "first_author",
    "title_id",
    "embargo_info",
    "coverage_depth",
    "notes",
    "publisher_name",
)
# CUFTS-style title lists (Project MUSE, DOAJ exports) carry the same facts under other names.
_CUFTS = {
    "title": "publication_title",
    "issn": "print_identifier",
    "e_issn": "online_identifier",
    "ft_start_date": "date_first_issue_online",
    "ft_end_date": "date_last_issue_online",
    "vol_ft_start": "num_first_vol_online",
    "vol_ft_end": "num_last_vol_online",
    "iss_ft_start": "num_first_issue_online",
    "iss_ft_end": "num_last_issue_online",
    "journal_url": "title_url",
    "publisher": "publisher_name",
    "db_identifier": "title_id",
}
_COVERAGE_DEPTHS = {"fulltext", "abstracts", "selectedarticles", "selected articles"}
_EMBARGO = re.compile(r"^([PR])([0-9]{1,4})([DMY])$")
_KBART_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$")


class KbartError(ValueError):
    """A KBART value that breaks the format."""


def parse_embargo(text: str) -> tuple[Embargo, ...]:
    """ "P1Y", "R6M", "R10Y;P30D" -> Embargo parts; "" -> (). Raises KbartError."""
    text = text.strip()
    if not text:
        return ()
    parts = []
    for piece in text.split(";"):
        m = _EMBARGO.match(piece.strip().upper())
        if m is None:
            raise KbartError(
                f"embargo_info {text!r} is not P or R, a number and D, M or Y (e.g. P1Y, R6M)"
            )
        parts.append(Embargo(m.group(1), int(m.group(2)), m.group(3)))
    kinds = [p.kind for p in parts]
    if len(parts) > 2 or len(set(kinds)) != len(kinds):
        raise KbartError(f"embargo_info {text!r}: at most one P and one R part")
    return tuple(parts)


def _kbart_date(name: str, text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    m = _KBART_DATE.match(text)
    if m is None:
        raise KbartError(f"{name} {text!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    try:
        return date(year, month, day)
    except ValueError:
        raise KbartError(f"{name} {text!r} is not a real date") from None


def _kbart_number(name: str, text: str, warnings: list[str]) -> int | None:
    text = text.strip()
    if not text:
        return None
    m = re.match(r"^0*([0-9]{1,9})(?:\s*[-/]\s*([0-9]{1,9}))?$", text)
    if m is None:
        warnings.append(f"{name} {text!r} is not a number; ignored")
        return None
    if m.group(2) and name.startswith("num_last"):
        return int(m.group(2))  # "3-4": a double issue ends at 4
    return int(m.group(1))


def coverage_from_kbart(fields: dict[str, str]) -> tuple[Coverage, list[str]]:
    """The coverage of one KBART row (the coverage columns, by KBART name) and warnings.
    Raises KbartError for a value that breaks the format."""
    warnings: list[str] = []
    first = _kbart_date("date_first_issue_online", fields.get("date_first_issue_online", ""))
    last = _kbart_date("date_last_issue_online", fields.get("date_last_issue_online", ""))
    first_vol = _kbart_number(
        "num_first_vol_online", fields.get("num_first_vol_online", ""), warnings
    )
    last_vol = _kbart_number("num_last_vol_online", fields.get("num_last_vol_online", ""), warnings)
    first_iss = _kbart_number(
        "num_first_issue_online", fields.get("num_first_issue_online", ""), warnings
    )
    last_iss = _kbart_number(
        "num_last_issue_online", fields.get("num_last_issue_online", ""), warnings
    )
    embargo = parse_embargo(fields.get("embargo_info", ""))
    if first is not None and last is not None and last < first:
        raise KbartError(
            f"coverage ends ({last.isoformat()}) before it starts ({first.isoformat()})"
        )
    if first_vol is not None and last_vol is not None and last_vol < first_vol:
        raise KbartError(
            f"num_last_vol_online {last_vol} is before num_first_vol_online {first_vol}"
        )
    if first is None and first_vol is None and last is None and last_vol is None and not embargo:
        return Coverage(note="no coverage given"), warnings
    open_end = last is None and last_vol is None
    span = Span(
        start_year=first.year if first else None,
        start_volume=first_vol,
        start_issue=first_iss,
        end_year=last.year if last else None,
        end_volume=last_vol,
        end_issue=last_iss,
        open_end=open_end,
        embargo=embargo,
    )
    return Coverage(spans=(span,), note=fields.get("notes", "").strip()), warnings


@dataclass(frozen=True)
class KbartRow:
    line: int
    publication_title: str
    print_identifier: str = ""
    online_identifier: str = ""
    print_issn: str | None = None
    online_issn: str | None = None
    print_isbn: str | None = None
    online_isbn: str | None = None
    title_id: str = ""
    title_url: str = ""
    publication_type: str = ""
    coverage_depth: str = ""
    publisher_name: str = ""
    first_author: str = ""
    access_type: str = ""
    coverage: Coverage = EMPTY
    fields: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        """What identifies the title across versions of the list: title_id, else an
        identifier, else the title."""
        for value in (self.title_id, self.online_identifier, self.print_identifier):
            if value.strip():
                return value.strip()
        return "title:" + title_key(self.publication_title)


@dataclass(frozen=True)
class KbartResult:
    """One line of a KBART file: a row, or the reason it cannot be used (`error`), with any
    warnings about values that were set aside."""

    line: int
    row: KbartRow | None = None
    error: str = ""
    warnings: tuple[str, ...] = ()


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "not UTF-8: read as Windows-1252"


def read_kbart_file(path: Path) -> Iterator[KbartResult]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        yield KbartResult(0, error=f"unreadable file: {exc}")
        return
    yield from read_kbart(data)


def read_kbart(data: bytes | str) -> Iterator[KbartResult]:
    """Every row of a KBART title list (tab-separated, header first), good or bad, in order.
    CUFTS-style lists (title, issn, e_issn, ft_start_date…) are read through a column map."""
    if isinstance(data, bytes):
        text, encoding_warning = _decode(data)
    else:
        text, encoding_warning = data.lstrip("\ufeff"), ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header_at = next((n for n, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        yield KbartResult(1, error="empty file: no header")
        return
    raw_header = lines[header_at].split("\t")
    header = [h.strip().strip('"').strip().lower() for h in raw_header]
    file_warnings: list[str] = [encoding_warning] if encoding_warning else []
    if "coverage_notes" in header and "notes" not in header:
        header = ["notes" if h == "coverage_notes" else h for h in header]  # KBART phase I
    if "publication_title" not in header:
        if "title" in header and ("ft_start_date" in header or "e_issn" in header):
            header = [_CUFTS.get(h, h) for h in header]
            file_warnings.append("CUFTS-style columns read as KBART")
        else:
            shown = ", ".join(h for h in header[:6] if h)
            yield KbartResult(
                header_at + 1,
                error=f"not a KBART header: no publication_title column (found: {shown})",
            )
            return
    missing = [c for c in KBART_COLUMNS if c not in header]
    if missing and "CUFTS-style columns read as KBART" not in file_warnings:
        file_warnings.append("header lacks KBART columns: " + ", ".join(missing))
    if len(set(h for h in header if h)) != len([h for h in header if h]):
        dupes = sorted({h for h in header if h and header.count(h) > 1})
        yield KbartResult(header_at + 1, error=f"header repeats columns: {', '.join(dupes)}")
        return
    for n in range(header_at + 1, len(lines)):
        line = lines[n]
        if not line.strip():
            continue
        yield _kbart_row(n + 1, line, header, file_warnings)


def _kbart_row(line_no: int, line: str, header: list[str], file_warnings: list[str]) -> KbartResult:
    warnings = list(file_warnings)
    values = line.split("\t")
    if len(values) > len(header):
        extra = [v for v in values[len(header) :] if v.strip()]
        if extra:
            return KbartResult(
                line_no,
                error=f"line {line_no}: {len(values)} fields, header has {len(header)} "
                f"(extra: {extra[0][:40]!r})",
            )
        values = values[: len(header)]
    elif len(values) < len(header):
        warnings.append(
            f"line {line_no}: {len(values)} fields, header has {len(header)}; "
            "missing ones taken as empty"
        )
        values = values + [""] * (len(header) - len(values))
    fields = {h: v.strip() for h, v in zip(header, values, strict=True) if h}
    title = fields.get("publication_title", "")
    if not title:
        return KbartResult(line_no, error=f"line {line_no}: publication_title is empty")
    try:
        coverage, cov_warnings = coverage_from_kbart(fields)
    except KbartError as exc:
        return KbartResult(line_no, error=f"line {line_no}: {exc}")
    warnings.extend(f"line {line_no}: {w}" for w in cov_warnings)
    ids: dict[str, str | None] = {}
    for column in ("print_identifier", "online_identifier"):
        raw = fields.get(column, "")
        issn = normalise_issn(raw) if raw else None
        isbn = normalise_isbn(raw) if raw and issn is None else None
        if raw and issn is None and isbn is None:
            warnings.append(f"line {line_no}: {column} {raw!r} is neither an ISSN nor an ISBN")
        ids[column + "_issn"] = issn
        ids[column + "_isbn"] = isbn
    depth = fields.get("coverage_depth", "")
    depth_key = depth.lower().replace(" ", "")
    if depth and depth_key not in {d.replace(" ", "") for d in _COVERAGE_DEPTHS}:
        warnings.append(f"line {line_no}: coverage_depth {depth!r} is not a KBART value")
    row = KbartRow(
        line=line_no,
        publication_title=title,
        print_identifier=fields.get("print_identifier", ""),
        online_identifier=fields.get("online_identifier", ""),
        print_issn=ids["print_identifier_issn"],
        online_issn=ids["online_identifier_issn"],
        print_isbn=ids["print_identifier_isbn"],
        online_isbn=ids["online_identifier_isbn"],
        title_id=fields.get("title_id", ""),
        title_url=fields.get("title_url", ""),
        publication_type=fields.get("publication_type", "").lower(),
        coverage_depth=depth_key if depth else "",
        publisher_name=fields.get("publisher_name", ""),
        first_author=fields.get("first_author", ""),
        access_type=fields.get("access_type", ""),
        coverage=coverage,
        fields=fields,
    )
    return KbartResult(line_no, row=row, warnings=tuple(warnings))


@dataclass(frozen=True)
class KbartChanges:
    """What changed between two versions of a title list, matched on `KbartRow.key`."""

    added: tuple[KbartRow, ...] = ()
    removed: tuple[KbartRow, ...] = ()
    changed: tuple[tuple[KbartRow, KbartRow, tuple[str, ...]], ...] = ()


def kbart_changes(old: Iterable[KbartRow], new: Iterable[KbartRow]) -> KbartChanges:
    """Rows added, removed and changed (with the names of the columns that changed). A title
    with several coverage rows is matched row by row, in order."""

    def keyed(rows: Iterable[KbartRow]) -> dict[tuple[str, int], KbartRow]:
        out: dict[tuple[str, int], KbartRow] = {}
        seen: dict[str, int] = {}
        for row in rows:
            n = seen.get(row.key, 0)
            seen[row.key] = n + 1
            out[(row.key, n)] = row
        return out

    before, after = keyed(old), keyed(new)
    added = tuple(after[k] for k in after if k not in before)
    removed = tuple(before[k] for k in before if k not in after)
    changed = []
    for k in before:
        if k in after:
            a, b = before[k].fields, after[k].fields
            diff = tuple(c for c in dict.fromkeys([*a, *b]) if a.get(c, "") != b.get(c, ""))
            if diff:
                changed.append((before[k], after[k], diff))
    return KbartChanges(added=added, removed=removed, changed=tuple(changed))


# --- the question: is it held? --------------------------------------------------------------


@dataclass(frozen=True)
class CoverageAnswer:
    """True (held), False (not held) or None (the statement cannot say), and why."""

    covered: bool | None
    reason: str


def _shift(day: date, amount: int, unit: str) -> date:
    """`day` moved back by an embargo's amount."""
    if unit == "D":
        return date.fromordinal(max(1, day.toordinal() - amount))
    months = amount * 12 if unit == "Y" else amount
    total = day.year * 12 + (day.month - 1) - months
    year, month = max(1, total // 12), total % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    return date(year, month, 28)


def _effective_years(span: Span, today: date) -> tuple[int | None, int | None, str]:
    """The span's first and last year with its embargo and open end applied to `today`."""
    start, end = span.start_year, span.end_year
    notes: list[str] = []
    if span.open_end and end is None:
        end = today.year
    for emb in span.embargo:
        wall = _shift(today, emb.amount, emb.unit)
        if emb.kind == "P":
            end = wall.year if end is None else min(end, wall.year)
            notes.append(f"embargo {emb}: nothing after {wall.isoformat()}")
        else:
            start = wall.year if start is None else max(start, wall.year)
            notes.append(f"rolling {emb}: only from {wall.isoformat()}")
    return start, end, "; ".join(notes)


@dataclass(frozen=True)
class _Model:
    """year = y0 + (volume - v0) * years_per_volume, from two anchors."""

    v0: float
    y0: float
    slope: float
    text: str

    def year(self, volume: float) -> float:
        return self.y0 + (volume - self.v0) * self.slope

    def volume(self, year: float) -> float:
        return self.v0 + (year - self.y0) / self.slope


def _model(coverage: Coverage) -> _Model | None:
    anchors: dict[int, int] = {}
    for s in coverage.spans:
        if s.start_volume is not None and s.start_year is not None:
            anchors.setdefault(s.start_volume, s.start_year)
        if s.end_volume is not None and s.end_year is not None and not s.open_end:
            anchors.setdefault(s.end_volume, s.end_year)
    if len(anchors) < 2:
        return None
    v_lo, v_hi = min(anchors), max(anchors)
    y_lo, y_hi = anchors[v_lo], anchors[v_hi]
    if y_hi < y_lo:
        return None
    slope = (y_hi - y_lo) / (v_hi - v_lo)
    if slope <= 0:
        # several volumes in one year and no spread: assume one year for all of them
        return None
    return _Model(v_lo, y_lo, slope, f"v.{v_lo}={y_lo} and v.{v_hi}={y_hi}")


_TOL = 0.05


def _year_bounds_from_volumes(span: Span, model: _Model | None) -> tuple[float, float] | None:
    """The time a span of volumes occupies, [start, end) in fractional years, by the model."""
    if model is None or not span.has_volumes:
        return None
    lo = model.year(span.start_volume) if span.start_volume is not None else float("-inf")
    hi = model.year(span.end_volume + 1) if span.end_volume is not None else float("inf")
    return lo, hi


def _check_year(
    span: Span, year: int, today: date, model: _Model | None
) -> tuple[bool | None, str] | None:
    """The year against the span's years (None: the span gives no years at all)."""
    start, end, embargo_note = _effective_years(span, today)
    if start is None and end is None:
        return None
    suffix = f" ({embargo_note})" if embargo_note else ""
    if (start is not None and year < start) or (end is not None and year > end):
        return False, f"{year} is outside {span}{suffix}"
    if start is not None and end is not None:
        return True, f"{year} within {span}{suffix}"
    # one end has no year: the volumes may tell, by the model
    by_volume = _year_bounds_from_volumes(span, model)
    if by_volume is None or model is None:
        side = "first" if start is None else "last"
        return None, f"{span}: its {side} year is not given"
    lo = float(start) if start is not None else by_volume[0]
    hi = float(end + 1) if end is not None else by_volume[1]
    inside = year + 1 > lo + _TOL and year < hi - _TOL
    where = "within" if inside else "outside"
    return inside, f"{year} {where} {span} (a year inferred from {model.text})"


def _check_volume(span: Span, volume: int, model: _Model | None) -> tuple[bool | None, str] | None:
    """The volume against the span's volumes (None: the span gives no volumes at all)."""
    if not span.has_volumes:
        return None
    lo, hi = span.start_volume, span.end_volume
    if (lo is not None and volume < lo) or (hi is not None and volume > hi):
        return False, f"v.{volume} is outside {span}"
    if lo is not None and (hi is not None or span.open_end):
        return True, f"v.{volume} within {span}"
    if lo is not None and volume == lo:
        return True, f"v.{volume} within {span}"
    side = "first" if lo is None else "last"
    return None, f"{span}: its {side} volume is not given"


def _check_span(
    span: Span,
    year: int | None,
    volume: int | None,
    issue: int | None,
    today: date,
    model: _Model | None,
) -> tuple[bool | None, str]:
    checks = []
    if year is not None:
        checks.append(_check_year(span, year, today, model))
    if volume is not None:
        checks.append(_check_volume(span, volume, model))
    results = [c for c in checks if c is not None]
    if not results:
        # the span gives neither what was asked: infer one from the other by the model
        asked = "years" if year is not None else "volumes"
        if model is None or (year is None and volume is None):
            return None, f"{span} gives no {asked} to compare"
        if year is not None and span.has_volumes:
            lo, hi = _year_bounds_from_volumes(span, model) or (0.0, 0.0)
            if span.end_volume is None and span.open_end:
                hi = float(today.year + 1)
            inside = year + 1 > lo + _TOL and year < hi - _TOL
            where = "within" if inside else "outside"
            return inside, f"{year} {where} {span} (its years inferred from {model.text})"
        if volume is not None and span.has_years:
            start, end, _note = _effective_years(span, today)
            lo_t = float(start) if start is not None else float("-inf")
            hi_t = float(end + 1) if end is not None else float("inf")
            inside = model.year(volume + 1) > lo_t + _TOL and model.year(volume) < hi_t - _TOL
            where = "within" if inside else "outside"
            return inside, f"v.{volume} {where} {span} (its year inferred from {model.text})"
        return None, f"{span} gives no {asked} to compare"
    for answer, reason in results:
        if answer is False:
            return False, reason
    # an issue matters only where the span starts or ends inside a volume (or year)
    at_start = span.start_issue is not None and (
        (volume is not None and volume == span.start_volume)
        or (volume is None and year is not None and year == span.start_year)
    )
    at_end = (
        span.end_issue is not None
        and not span.open_end
        and (
            (volume is not None and volume == span.end_volume)
            or (volume is None and year is not None and year == span.end_year)
        )
    )
    if at_start and span.start_issue is not None:
        if issue is not None and issue < span.start_issue:
            return False, f"no.{issue} is before {span}"
        if issue is None and span.start_issue > 1:
            results.append((None, f"{span} starts at no.{span.start_issue}"))
    if at_end and span.end_issue is not None:
        if issue is not None and issue > span.end_issue:
            return False, f"no.{issue} is after {span}"
        if issue is None:
            results.append((None, f"{span} ends at no.{span.end_issue}"))
    if any(answer is None for answer, _ in results):
        return None, "; ".join(reason for answer, reason in results if answer is None)
    return True, "; ".join(reason for _, reason in results)


def check_coverage(
    coverage: Coverage,
    year: int | None = None,
    volume: int | None = None,
    issue: int | None = None,
    today: date | None = None,
) -> CoverageAnswer:
    """Does the coverage include this year/volume/issue? With the reason. Only the volume is
    compared with volumes, the year with years; when a span gives only volumes and the question
    is by year (or the other way round), the year of a volume is inferred linearly from spans
    that give both at their ends, and the reason says so."""
    if year is None and volume is None and issue is None:
        return CoverageAnswer(None, "nothing asked")
    if today is None:
        today = datetime.now(UTC).date()
    if not coverage.spans:
        return CoverageAnswer(None, "the statement gives no coverage that could be read")
    model = _model(coverage)
    for gap in coverage.lacking:
        answer, _reason = _check_span(gap, year, volume, issue, today, model)
        if answer:
            return CoverageAnswer(False, f"listed as lacking: {gap}")
    unknown: list[str] = []
    incomplete: list[str] = []
    outside: list[str] = []
    for span in coverage.spans:
        answer, reason = _check_span(span, year, volume, issue, today, model)
        if answer is True:
            if span.incomplete:
                incomplete.append(reason)
                continue
            return CoverageAnswer(True, reason)
        if answer is None:
            unknown.append(reason)
        else:
            outside.append(reason)
    if incomplete:
        return CoverageAnswer(None, "held incompletely: " + "; ".join(incomplete))
    if unknown:
        return CoverageAnswer(None, "; ".join(unknown))
    return CoverageAnswer(False, "; ".join(outside) or "not covered")


def covers(
    coverage: Coverage,
    year: int | None = None,
    volume: int | None = None,
    issue: int | None = None,
    today: date | None = None,
) -> bool | None:
    """True if held, False if not, None if the statement cannot say (see check_coverage)."""
    return check_coverage(coverage, year=year, volume=volume, issue=issue, today=today).covered
