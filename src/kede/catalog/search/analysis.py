"""Text analysis for catalogue search: the same tokens for documents and queries, whichever
engine indexes them. Pure: no Django, no engine.

Both engines are given text that is already cut into tokens here, so Tantivy and PostgreSQL
match exactly the same things and rank on the same terms:

- Text is folded with `normalise.fold_text` (case, diacritics, full/half width, traditional ->
  simplified Chinese), plus the usual Arabic/Persian letter unification.
- Latin, Cyrillic, Greek, Arabic, Hebrew, Indic… text is cut into words at spaces.
- Han, kana and hangul have no reliable word boundaries, so a run of them becomes overlapping
  bigrams ("傲慢与偏见" -> 傲慢 慢与 与偏 偏见, Lucene's CJK bigram approach). Documents also get
  each character on its own at the same position, so a one-character query ("书") finds it;
  queries use bigrams whenever the run has two or more characters.
- Apostrophes separate words ("L'Éducation" -> l education), where `fold_text` (made for
  match keys) joins them; a document also gets the joined form at the same position, so
  "obrien" finds "O'Brien" as well as "o'brien" and "O’Brien" do.
- Positions: one per word, one per CJK character; phrases compare positions, so the document
  and query sides number tokens the same way.

Queries (`parse_query`) are words, "quoted phrases" and field prefixes (`title:`, `author:`,
`subject:`, `publisher:`, `isbn:`, `issn:`, `lccn:`, `oclc:`). A bare ISBN or ISSN is looked
up as an identifier: an ISBN-10 finds the record stored under its ISBN-13. Parsing never
raises: what could not be understood is reported in `ParsedQuery.problems`, in words a reader
can act on.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from kede.catalog.normalise import fold_text, lccn_normalise, oclc_number
from kede.core.identifiers import normalise_doi, normalise_isbn, normalise_issn

MAX_TOKEN_CHARS = 64  # longer tokens are cut; both sides cut them the same way
MAX_FIELD_TOKENS = 2000  # per field of a document; PostgreSQL positions stop at 16383
MAX_QUERY_CLAUSES = 32
MAX_QUERY_CHARS = 1000

# Han (with the CJK radicals, 々 and Hangzhou numerals), kana, hangul: bigrammed.
_CJK_CLASS = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3005\u3021-\u3029\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_RUNS = re.compile(f"([{_CJK_CLASS}]+)|([^{_CJK_CLASS}]+)")
_CJK_ANY = re.compile(f"[{_CJK_CLASS}]+")
# Arabic-script letters written several ways: alef maksura, Persian yeh -> yeh; teh marbuta
# -> heh; Persian kaf -> kaf; tatweel (a stretching stroke) removed.
_JOINER = re.compile("['’‘ʼʻ`´]")
_ARABIC = str.maketrans({"ى": "ي", "ی": "ي", "ة": "ه", "ک": "ك", "ـ": None})


class Token(NamedTuple):
    """A term and its position; `start`/`end` are character offsets in the folded text."""

    text: str
    position: int
    start: int
    end: int


def fold(text: str) -> str:
    """`normalise.fold_text` plus Arabic-script letter unification."""
    folded = fold_text(text)
    return folded if folded.isascii() else folded.translate(_ARABIC)


def _cut(token: str) -> str:
    return token[:MAX_TOKEN_CHARS]


def tokens_of_folded(folded: str, *, unigrams: bool, first_position: int = 0) -> list[Token]:
    """Tokens of text already folded (`fold`). `unigrams`: also each CJK character alone at
    its position (documents); without it a CJK run of two or more is bigrams only (queries)."""
    if not folded:
        return []
    if folded.isascii() or not _CJK_ANY.search(folded):
        # Words only (most catalogue text): one token per space-separated word.
        out = []
        offset = 0
        for position, word in enumerate(folded.split(" "), first_position):
            out.append(Token(word[:MAX_TOKEN_CHARS], position, offset, offset + len(word)))
            offset += len(word) + 1
        return out
    out = []
    position = first_position
    offset = 0
    for word in folded.split(" "):
        start_of_word = offset
        offset += len(word) + 1
        for match in _RUNS.finditer(word):
            start = start_of_word + match.start()
            if match.group(2) is not None:
                out.append(
                    Token(_cut(match.group(2)), position, start, start_of_word + match.end())
                )
                position += 1
                continue
            run = match.group(1)
            if len(run) == 1:
                out.append(Token(run, position, start, start + 1))
                position += 1
                continue
            for i in range(len(run)):
                if i + 1 < len(run):
                    out.append(Token(run[i : i + 2], position + i, start + i, start + i + 2))
                if unigrams:
                    out.append(Token(run[i], position + i, start + i, start + i + 1))
            position += len(run)
    return out


def title_length(text: str) -> int:
    """How many positions the text takes: its words, counting each CJK character."""
    folded = fold(text)
    if not folded:
        return 0
    extra = sum(len(run) - 1 for run in _CJK_ANY.findall(folded))
    return folded.count(" ") + 1 + extra


def _value_tokens(value: str, first_position: int) -> tuple[list[Token], int]:
    """The tokens of one value and the position after its last."""
    if not _JOINER.search(value):
        tokens = tokens_of_folded(fold(value), unigrams=True, first_position=first_position)
        # tokens_of_folded emits in position order: the last token has the highest
        return tokens, (tokens[-1].position + 1 if tokens else first_position)
    out: list[Token] = []
    position = first_position
    for chunk in value.split():
        tokens = tokens_of_folded(
            fold(_JOINER.sub(" ", chunk)), unigrams=True, first_position=position
        )
        if not tokens:
            continue
        out.extend(tokens)
        position = tokens[-1].position + 1
        if _JOINER.search(chunk):
            joined = tokens_of_folded(
                fold(_JOINER.sub("", chunk)), unigrams=False, first_position=tokens[0].position
            )
            if len(joined) == 1 and all(joined[0].text != t.text for t in tokens):
                out.append(joined[0])
    return out, position


def document_tokens(values: Iterable[str], *, gap: int = 10) -> list[Token]:
    """The tokens of one field of a document: every value (title and its 880 forms, each
    author…), with `gap` empty positions between values so a phrase cannot run from one into
    the next. At most MAX_FIELD_TOKENS."""
    out: list[Token] = []
    position = 0
    for value in values:
        if not value:
            continue
        tokens, after = _value_tokens(value, position)
        if not tokens:
            continue
        out.extend(tokens)
        position = after + gap
        if len(out) >= MAX_FIELD_TOKENS:
            return out[:MAX_FIELD_TOKENS]
    return out


def query_tokens(text: str) -> list[Token]:
    """The tokens of a piece of query text (no unigrams inside a CJK run of two or more)."""
    return tokens_of_folded(fold(_JOINER.sub(" ", text)), unigrams=False)


# --- identifiers -----------------------------------------------------------------------------

ID_SCHEMES = ("isbn", "issn", "lccn", "oclc", "doi")
_ISBN_LIKE = re.compile(r"^(?:97[89][\s-]?)?[0-9][0-9\s-]{7,14}[0-9Xx]$")
_ISSN_LIKE = re.compile(r"^[0-9]{4}-[0-9]{3}[0-9Xx]$")


def identifier_key(scheme: str, raw: str) -> str | None:
    """The exact-match key of an identifier ("isbn:9780306406157", "issn:03784754",
    "lccn:n78890351", "oclc:12345"), or None when `raw` is not a valid one of `scheme`.
    ISBN-10s are stored and looked up as ISBN-13s."""
    scheme = scheme.lower()
    value: str | None
    if scheme == "isbn":
        value = normalise_isbn(raw)
    elif scheme == "issn":
        issn = normalise_issn(raw)
        value = issn.replace("-", "") if issn else None
    elif scheme == "lccn":
        value = lccn_normalise(raw)
    elif scheme == "oclc":
        digits = raw.strip()
        value = str(int(digits)) if digits.isdigit() and int(digits) > 0 else oclc_number(raw)
    elif scheme == "doi":  # DOIs are case-insensitive
        doi = normalise_doi(raw)
        value = doi.lower() if doi else None
    else:
        return None
    return f"{scheme}:{value}" if value else None


def document_identifier_keys(identifiers: Iterable[str]) -> list[str]:
    """Keys for a document's identifiers. Each is best given as "scheme:value" ("isbn:0-306-
    40615-2", "oclc:(OCoLC)ocm12345", "lccn:85-2"); a bare value is taken as an ISBN, an OCLC
    number with its "(OCoLC)"/"ocm" prefix, or an ISSN, in that order. Unknown ones are
    skipped."""
    keys: list[str] = []
    for raw in identifiers:
        if not raw:
            continue
        scheme, sep, value = raw.partition(":")
        key: str | None
        if sep and scheme.strip().lower() in ID_SCHEMES:
            key = identifier_key(scheme.strip(), value)
        else:
            key = (
                identifier_key("isbn", raw)
                or (f"oclc:{n}" if (n := oclc_number(raw)) else None)
                or identifier_key("issn", raw)
            )
        if key and key not in keys:
            keys.append(key)
    return keys


# --- queries ---------------------------------------------------------------------------------

TEXT_FIELDS = ("title", "author", "subject", "publisher")
_FIELD_NAMES = {
    "title": "title",
    "ti": "title",
    "author": "author",
    "au": "author",
    "subject": "subject",
    "su": "subject",
    "publisher": "publisher",
    "pb": "publisher",
    "isbn": "isbn",
    "issn": "issn",
    "lccn": "lccn",
    "oclc": "oclc",
    "doi": "doi",
}
_OPEN_QUOTES = {'"': '"', "“": "”", "„": "“", "「": "」", "『": "』", "«": "»"}
_ANY_QUOTE = set(_OPEN_QUOTES) | set(_OPEN_QUOTES.values())
_FIELD_PREFIX = re.compile(r"^([A-Za-z]+):(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class TermClause:
    """One token that must occur, in `field` or (None) in any text field."""

    token: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class PhraseClause:
    """Tokens that must occur in this order; `tokens` are (relative position, token)."""

    tokens: tuple[tuple[int, str], ...]
    field: str | None = None


@dataclass(frozen=True, slots=True)
class IdentifierClause:
    """An identifier key ("isbn:978…") that must be among the document's identifiers."""

    key: str


Clause = TermClause | PhraseClause | IdentifierClause


@dataclass(frozen=True)
class ParsedQuery:
    """What a query asks for. Every clause must match. `unsatisfiable`: a part of the query
    can match nothing (an `isbn:` that is no ISBN); `problems` says what and why."""

    clauses: tuple[Clause, ...] = ()
    problems: tuple[str, ...] = ()
    unsatisfiable: bool = False
    highlight_terms: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_empty(self) -> bool:
        return not self.clauses and not self.unsatisfiable


def _chunks(text: str, problems: list[str]) -> list[tuple[str, bool]]:
    """Split a query into (text, quoted) pieces: whitespace separates words, quotes make a
    phrase. An unclosed quote runs to the end (reported, not refused)."""
    out: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _OPEN_QUOTES:
            close = _OPEN_QUOTES[ch]
            end = text.find(close, i + 1)
            if ch == '"' and end < 0:
                end = text.find("”", i + 1)
            if end < 0:
                problems.append(
                    f"The quote at character {i + 1} is never closed; "
                    "the phrase was taken to run to the end."
                )
                end = n
            out.append((text[i + 1 : end], True))
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in _ANY_QUOTE:
            j += 1
        if j == i:  # a stray closing quote
            i += 1
            continue
        out.append((text[i:j], False))
        i = j
    return out


def parse_query(text: str) -> ParsedQuery:
    """Parse a reader's query. Never raises; see the module docstring for the syntax."""
    problems: list[str] = []
    if len(text) > MAX_QUERY_CHARS:
        problems.append(
            f"The query is longer than {MAX_QUERY_CHARS} characters; the rest was ignored."
        )
        text = text[:MAX_QUERY_CHARS]
    text = unicodedata.normalize("NFKC", text)  # full-width "：" and "＂" become ":" and '"'
    chunks = _chunks(text, problems)
    clauses: list[Clause] = []
    unsatisfiable = False
    pending_field: str | None = None
    pending_label = ""
    for chunk, quoted in chunks:
        field_name = pending_field
        label = pending_label
        pending_field, pending_label = None, ""
        if not quoted and field_name is None:
            match = _FIELD_PREFIX.match(chunk)
            if match and match.group(1).lower() in _FIELD_NAMES:
                field_name = _FIELD_NAMES[match.group(1).lower()]
                label = match.group(1)
                chunk = match.group(2)
                if not chunk:  # "title: war" or 'title:"war and peace"'
                    pending_field, pending_label = field_name, label
                    continue
        if field_name in ID_SCHEMES:
            key = identifier_key(field_name, chunk)
            if key is None:
                problems.append(f"“{chunk}” is not a valid {field_name.upper()}.")
                unsatisfiable = True
            else:
                clauses.append(IdentifierClause(key))
            continue
        if not quoted and field_name is None:
            key = _bare_identifier(chunk)
            if key:
                clauses.append(IdentifierClause(key))
                continue
        tokens = query_tokens(chunk)
        if not tokens:
            if field_name is not None:
                problems.append(f"“{label}:” is followed by nothing that can be searched.")
            continue
        if quoted and len(tokens) > 1:
            first = tokens[0].position
            clauses.append(
                PhraseClause(tuple((t.position - first, t.text) for t in tokens), field_name)
            )
        else:
            clauses.extend(TermClause(t.text, field_name) for t in tokens)
    if pending_field is not None:
        problems.append(f"“{pending_label}:” is followed by nothing that can be searched.")
        if pending_field in ID_SCHEMES:
            unsatisfiable = True
    unique = list(dict.fromkeys(clauses))
    if len(unique) > MAX_QUERY_CLAUSES:
        problems.append(
            f"The query has {len(unique)} terms; only the first {MAX_QUERY_CLAUSES} were used."
        )
        unique = unique[:MAX_QUERY_CLAUSES]
    terms: set[str] = set()
    for clause in unique:
        if isinstance(clause, TermClause):
            terms.add(clause.token)
        elif isinstance(clause, PhraseClause):
            terms.update(token for _, token in clause.tokens)
    return ParsedQuery(tuple(unique), tuple(problems), unsatisfiable, frozenset(terms))


def _bare_identifier(chunk: str) -> str | None:
    """A query word that is a valid ISBN (10 or 13, hyphens allowed) or a hyphenated ISSN."""
    if _ISBN_LIKE.match(chunk):
        key = identifier_key("isbn", chunk)
        if key:
            return key
    if _ISSN_LIKE.match(chunk):
        return identifier_key("issn", chunk)
    if chunk.startswith(("10.", "doi:", "https://doi.org/")) and "/" in chunk:
        return identifier_key("doi", chunk)
    return None


# --- highlighting ----------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    if _JOINER.match(ch):
        return " "
    folded = fold(ch)
    if folded:
        return folded
    category = unicodedata.category(ch)
    if category[0] == "M" or category == "Cf":
        return ""  # marks and zero-width characters join the letters around them
    return " "


def highlight(title: str, terms: Iterable[str]) -> str:
    """`title` as HTML (escaped), with the parts that match `terms` (query tokens) wrapped in
    <mark>. Folding is done character by character here, so the marks land on the reader's
    own spelling ("傲慢與偏見" is marked for the query 傲慢与偏见)."""
    wanted = set(terms)
    if not title or not wanted:
        return html.escape(title)
    folded: list[str] = []
    source: list[int] = []  # for each folded character, the index of its source character
    for index, ch in enumerate(title):
        for piece in _fold_char(ch):
            folded.append(piece)
            source.append(index)
    text = "".join(folded)
    marked = [False] * len(title)
    # Same splitting as the indexer, on text folded per character (offsets stay aligned).
    for token in tokens_of_folded(text, unigrams=True):
        if token.text in wanted:
            for k in range(token.start, min(token.end, len(source))):
                marked[source[k]] = True
    out: list[str] = []
    inside = False
    for index, ch in enumerate(title):
        if marked[index] and not inside:
            out.append("<mark>")
            inside = True
        elif not marked[index] and inside and not ch.isspace():
            out.append("</mark>")
            inside = False
        out.append(html.escape(ch))
    if inside:
        out.append("</mark>")
    return _trim_marks("".join(out))


_TRAILING_SPACE_IN_MARK = re.compile(r"(\s+)</mark>")


def _trim_marks(markup: str) -> str:
    return _TRAILING_SPACE_IN_MARK.sub(r"</mark>\1", markup)


def clean_display(text: str, limit: int = 2000) -> str:
    """Text safe to store and show: no NULs or lone surrogates, at most `limit` characters."""
    text = text.replace("\x00", "")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]
