"""Match keys for the union catalogue: titles, names, years, editions, volumes, LCCN and OCLC
numbers written one way so that records from different libraries compare. Pure: no Django.

These are keys for *matching*, not for display: they lose case, accents, punctuation and the
traditional/simplified distinction on purpose. ISBN, ISSN and DOI live in kede.core.identifiers.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

# --- text folding ---------------------------------------------------------------------------

# Letters that carry their "accent" in the letter itself, so NFKD leaves them alone.
_LETTERS = str.maketrans(
    {
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "ħ": "h",
        "ŧ": "t",
        "ı": "i",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ŀ": "l",
    }
)
# Apostrophes and similar marks join the letters around them ("editor's" -> "editors",
# "L'Étranger" -> "letranger"); other punctuation separates words.
_JOINERS = {"'", "’", "‘", "ʼ", "ʻ", "`", "´"}
_CJK = re.compile(
    r"[\u2e80-\u2fdf\u3005\u3021-\u3029\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)
_ASCII_JOINERS = re.compile(r"['`]")
_ASCII_GAPS = re.compile(r"[^a-z0-9]+")
_T2S: opencc.OpenCC | None = None


def _t2s(text: str) -> str:
    """Traditional -> simplified Chinese, applied until stable (a few characters chain, e.g.
    薴 -> 苧 -> 苎), so that the key is idempotent."""
    global _T2S
    if _T2S is None:
        _T2S = opencc.OpenCC("t2s")
    for _ in range(3):
        converted = _T2S.convert(text)
        if converted == text:
            break
        text = converted
    return text


# UTF-8 read as Latin-1 or Windows-1252 ("FrÃ©dÃ©ric", "AyaÌ\x84z"): a lead byte of a two- to
# four-byte sequence followed by a continuation byte, both as characters.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4]"  # a lead byte: Â … ô
    "[\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u2013-\u203a\u20ac\u2122]"
)


def repair_mojibake(text: str) -> str:
    """Text whose UTF-8 bytes were decoded as Latin-1 or Windows-1252 somewhere on its way (a
    record exported as MARCXML from a system that read its UTF-8 records as MARC-8 or Latin-1:
    "PÃ©rez" for "Pérez") decoded again as UTF-8. Text that does not look like that, or does not
    decode, comes back unchanged, so real "Ã" and "©" are kept."""
    if not _MOJIBAKE.search(text):
        return text
    for encoding in ("latin-1", "cp1252"):
        try:
            return text.encode(encoding).decode("utf-8")
        except UnicodeError:
            continue
    return text


@lru_cache(maxsize=65536)
def fold_text(text: str) -> str:
    """Compatibility-normalised (full-width -> half-width), case-folded, diacritics and
    punctuation removed, traditional Chinese made simplified, single spaces. (Double-encoded
    UTF-8 is left as it is: callers that meet it repair it first with `repair_mojibake`.)"""
    if text.isascii():
        # Fast path for most catalogue text: NFKC and accents do not apply.
        return " ".join(_ASCII_GAPS.sub(" ", _ASCII_JOINERS.sub("", text.lower())).split())
    text = unicodedata.normalize("NFKC", text).casefold()
    text = unicodedata.normalize("NFKD", text).translate(_LETTERS)
    out: list[str] = []
    strip_marks = True
    for ch in text:
        if ch.isascii():
            out.append(ch if ch.isalnum() else ("" if ch in _JOINERS else " "))
            strip_marks = True
            continue
        category = unicodedata.category(ch)
        if category[0] in "LN":
            out.append(ch)
            # Accents on Latin, Greek, Cyrillic and the vowel points of Hebrew and Arabic are
            # folded away; the marks of other scripts (kana voicing デ, Indic and Thai vowel
            # signs) are part of the letter and stay.
            strip_marks = ch < "\u0700" or "\u1e00" <= ch < "\u2000"
        elif category == "Mc" or (category == "Mn" and not strip_marks):
            out.append(ch)
        elif category in ("Mn", "Me", "Cf") or ch in _JOINERS:
            continue  # accents, zero-width joiners, soft hyphens
        else:
            out.append(" ")
            strip_marks = True
    folded = unicodedata.normalize("NFC", "".join(out))
    if _CJK.search(folded):
        folded = _t2s(folded)
    return " ".join(folded.split())


def title_key(title: str, nonfiling: int = 0) -> str:
    """The title as a match key. `nonfiling` is MARC 245 (or 130/240/246…) indicator 2: that
    many leading characters ("The ", "L'", "Der ") are skipped. MARC counts a diacritic as a
    character of its own, so the count is taken on the decomposed (NFD) text. A count that
    would leave nothing (a bad indicator) is ignored."""
    if 0 < nonfiling <= 9:
        decomposed = unicodedata.normalize("NFD", title)
        rest = decomposed[nonfiling:]
        if rest.strip():
            title = rest
    return fold_text(title)


# --- names ----------------------------------------------------------------------------------

_NAME_DATES = re.compile(r"[0-9]")
_SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "jun", "sen", "junior", "senior", "esq"}
_RELATORS = {
    "ed",
    "eds",
    "editor",
    "editors",
    "hrsg",
    "hg",
    "trans",
    "tr",
    "translator",
    "comp",
    "compiler",
    "ill",
    "illustrator",
    "author",
}


@lru_cache(maxsize=65536)
def author_key(name: str) -> str:
    """A personal name as "surname initial" ("Thompson, E. P., 1924-1993" and "E.P. Thompson"
    both -> "thompson e"). Surname-first when the name has a comma ("Surname, Given"),
    given-first otherwise, where the last word is the surname. Dates, "Jr." and relator terms
    ("ed.", "Hrsg.") are dropped; so are the particles' positions: "Van den Bussche, Jan" and
    "Jan Van den Bussche" -> "bussche j". A name without spaces (CJK "王小明") comes back
    folded whole. Empty for an unknown name ("?", "")."""
    # A "?" or U+FFFD in a name is a letter lost to a bad character-set conversion
    # ("Kr?ll" for "Kröll"): dropping it leaves a surname one edit away from the real one.
    name = name.replace("?", "").replace("\ufffd", "")
    kept: list[list[str]] = []
    for part in name.split(","):
        words = [w for w in fold_text(part).split() if w not in _RELATORS]
        if not words or _NAME_DATES.search(" ".join(words)):
            continue  # "1924-1993", "b. 1950"
        words = [w for w in words if w not in _SUFFIXES]
        if words:
            kept.append(words)
    if not kept:
        return ""
    if len(kept) >= 2:
        surname, given = kept[0][-1], kept[1]
    elif len(kept[0]) == 1:
        return kept[0][0]
    else:
        surname, given = kept[0][-1], kept[0][:-1]
    return f"{surname} {given[0][0]}"


# --- years ----------------------------------------------------------------------------------

_YEAR = re.compile(r"(?<![0-9])(1[0-9]{3}|20[0-9]{2})(?![0-9])")
_ROC_YEAR = re.compile(r"民国\s*([0-9]{1,3})\s*年?")


def year_of(text: str) -> int | None:
    """The first plausible year (1000–2099) in a date field: 008/07-10, 264 $c "c2003.",
    "[1999?]", "2001-2003", full-width "２００３年", or a Republic of China year "民國89年"
    (= 2000). None when there is none ("19uu", "n.d.")."""
    if not text:
        return None
    text = unicodedata.normalize("NFKC", text)
    match = _YEAR.search(text)
    if match:
        return int(match.group(1))
    if "民" in text:
        roc = _ROC_YEAR.search(_t2s(text))
        if roc:
            return 1911 + int(roc.group(1))
    return None


# --- editions and volumes -------------------------------------------------------------------

_ORDINAL_WORDS = {
    # English, French, German, Spanish/Portuguese, Italian, Dutch
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "premiere": 1,
    "premier": 1,
    "deuxieme": 2,
    "seconde": 2,
    "troisieme": 3,
    "quatrieme": 4,
    "cinquieme": 5,
    "erste": 1,
    "zweite": 2,
    "dritte": 3,
    "vierte": 4,
    "funfte": 5,
    "sechste": 6,
    "primera": 1,
    "segunda": 2,
    "tercera": 3,
    "cuarta": 4,
    "quinta": 5,
    "primeira": 1,
    "terceira": 3,
    "prima": 1,
    "seconda": 2,
    "terza": 3,
    "eerste": 1,
    "tweede": 2,
    "derde": 3,
}
_CJK_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_FIRST_NUMBER = re.compile(r"(?<![0-9])([0-9]{1,3})(?![0-9])")
_CJK_NUMBER = re.compile(r"第\s*([一二两三四五六七八九十]{1,3})")
_EDITION_WORDS = re.compile(
    r"\b(ed|edn|edition|editions|eds|aufl|auflage|ausg|ausgabe|edicion|edizione|edicao|"
    r"editie|izd|izdanie|издание|изд|utg|udg|uppl|painos|wyd|wydanie|vyd|kiadas|版)\b"
)
_VOLUME = re.compile(
    r"\b(?:v|vol|vols|volume|volumes|bd|band|t|tome|tomo|teil|tl|pt|part|partie|deel|"
    r"no|nr|num|number|heft|h|livre|book|bk|cz|tom|том|т|кн|часть|ч)\b\s*([0-9]{1,4}|[ivxlc]{1,6})\b"
)
_CJK_VOLUME = re.compile(r"第?\s*([0-9]{1,4}|[一二两三四五六七八九十]{1,3})\s*[卷册冊辑輯部集]")
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}


def _cjk_number(text: str) -> int:
    """一 .. 九十九 (enough for editions and volumes)."""
    if text == "十":
        return 10
    if "十" in text:
        tens, _, units = text.partition("十")
        return _CJK_DIGITS.get(tens, 1) * 10 + _CJK_DIGITS.get(units, 0)
    return _CJK_DIGITS.get(text, 0)


def _roman(text: str) -> int:
    total = 0
    previous = 0
    for ch in reversed(text):
        value = _ROMAN[ch]
        total = total - value if value < previous else total + value
        previous = max(previous, value)
    return total


@lru_cache(maxsize=16384)
def edition_key(text: str) -> str:
    """The edition statement (MARC 250) as a key: its number when it has one ("2nd ed.",
    "Second edition", "2. Aufl.", "2e éd.", "第2版", "第二版", "2-е изд." -> "2"), otherwise the
    folded words without "ed."/"edition" ("Rev. ed." -> "rev"); "" for no statement."""
    if not text:
        return ""
    normalised = unicodedata.normalize("NFKC", text)
    cjk = _CJK_NUMBER.search(normalised)
    if cjk and re.search(r"[版刷]", normalised):
        return str(_cjk_number(cjk.group(1)))
    folded = fold_text(normalised)
    number = _FIRST_NUMBER.search(folded)
    if number:
        return str(int(number.group(1)))
    for word in folded.split():
        if word in _ORDINAL_WORDS:
            return str(_ORDINAL_WORDS[word])
    rest = " ".join(_EDITION_WORDS.sub(" ", folded).split())
    return rest


@lru_cache(maxsize=16384)
def volume_key(text: str) -> str:
    """The volume/part designation as a number string ("v. 2", "Vol. II", "Bd. 2", "Teil 2",
    "第2卷", "第二册" -> "2"); a bare number is taken as it is; "" when there is none."""
    if not text:
        return ""
    normalised = unicodedata.normalize("NFKC", text)
    cjk = _CJK_VOLUME.search(normalised)
    if cjk:
        value = cjk.group(1)
        return str(int(value)) if value.isdigit() else str(_cjk_number(value))
    folded = fold_text(normalised)
    match = _VOLUME.search(folded)
    if match:
        value = match.group(1)
        return str(int(value)) if value.isdigit() else str(_roman(value))
    number = _FIRST_NUMBER.search(folded)
    if number:
        return str(int(number.group(1)))
    return ""


_TITLE_PART = re.compile(
    r"\b(?:vol|volume|bd|band|tome|tomo|teil|pt|part|partie|deel|livre|book|том|часть)\b"
    r"\s*([0-9]{1,4}|[ivxlc]{1,6})\b"
)


@lru_cache(maxsize=65536)
def title_part(title: str) -> str:
    """The number of a part or volume named in a title (MARC 245 $n run into the title:
    "Database tuning (part II)", "Grundkurs Mathematik, Teil 2", "史记 第三卷" -> "2"/"3"); only
    explicit words count, so a number that belongs to the title ("Windows 95", "Catch-22")
    does not. "" when there is none."""
    normalised = unicodedata.normalize("NFKC", title)
    cjk = _CJK_VOLUME.search(normalised)
    if cjk:
        value = cjk.group(1)
        return str(int(value)) if value.isdigit() else str(_cjk_number(value))
    match = _TITLE_PART.search(fold_text(normalised))
    if match:
        value = match.group(1)
        return str(int(value)) if value.isdigit() else str(_roman(value))
    return ""


# --- control numbers ------------------------------------------------------------------------

_LCCN_VALID = re.compile(r"^(?:[a-z]{0,3}[0-9]{8}|[a-z]{0,2}[0-9]{10})$")


def lccn_normalise(raw: str) -> str | None:
    """A Library of Congress Control Number (MARC 010 $a) normalised as LC prescribes
    (https://www.loc.gov/marc/lccn-namespace.html): remove blanks; drop a forward slash and
    everything after it; remove a hyphen and left-pad the part after it with zeros to six
    digits. Prefixes are lower-cased. None unless the result is a prefix of up to three
    letters and 8 digits, or up to two letters and 10 digits ("n78-890351" -> "n78890351",
    "85-2" -> "85000002", "2001-000002" -> "2001000002", "75-425165//r75" -> "75425165")."""
    text = "".join(raw.split()).lower()
    text = text.split("/", 1)[0]
    if "-" in text:
        left, _, right = text.partition("-")
        if "-" in right or not right.isdigit():
            return None
        text = left + right.rjust(6, "0")
    return text if _LCCN_VALID.match(text) else None


_OCLC = re.compile(r"^\s*(?:\(ocolc\)\s*)?(?:ocm|ocn|on)?\s*0*([0-9]{1,12})\s*$", re.IGNORECASE)
_OCLC_TAGGED = re.compile(r"^\s*\(ocolc\)", re.IGNORECASE)
_OCLC_PREFIXED = re.compile(r"^\s*(?:ocm|ocn|on)\s*[0-9]", re.IGNORECASE)


def oclc_number(raw: str) -> str | None:
    """The OCLC number from a 035 $a, without prefix or leading zeros: "(OCoLC)ocm00012345",
    "(OCoLC)ocn123456789", "(OCoLC)on1234567890", "(OCoLC)12345", "ocm12345678" -> the digits.
    None for other systems' numbers ("(DLC) 85000002", "(CaEvIII)123") and for bare digits,
    which do not say whose number they are."""
    if not (_OCLC_TAGGED.match(raw) or _OCLC_PREFIXED.match(raw)):
        return None
    match = _OCLC.match(raw)
    if match is None or int(match.group(1)) == 0:
        return None
    return str(int(match.group(1)))
