"""Which records a consortium keeps, by class number. Pure: no Django.

A `ScopeRule` lists ranges to keep (`include`) and to drop (`exclude`) per classification
scheme, and what to do with records that have no class number. It round-trips through a JSON
dict and reports every problem by name. `rule.decide(bib)` gives a `Decision` with its reason.

Ranges, per scheme:

- "clc", Chinese Library Classification: "A-K" (classes A to K), "TP3" (TP3 and everything
  under it: TP31, TP312 ...), "TP3-TP39". The notation is hierarchical, so a bound covers
  everything that starts with it.
- "ddc", Dewey: "000-099", "370" (370 and 370.x), "004-006". Hierarchical too.
- "lcc", Library of Congress: "A-H" (classes A to H and their subclasses: "H" covers HA-HX),
  "P", "QA76-QA76.9". LC numbers are not hierarchical ("QA76" is not under "QA7"), so a bound
  with a number compares as letters, then number; a bound of letters alone covers them as a
  prefix.

Precedence: an excluded number drops the record; otherwise a number inside a kept range keeps
it; a record whose numbers (in schemes the rule has ranges for) are all outside is dropped;
a record with no usable CLC, LCC or DDC number follows `unclassified` ("keep" or "reject").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from kede.catalog.ingest.errors import ScopeError

SCHEMES: dict[str, str] = {
    "clc": "CLC",
    "lcc": "LCC",
    "ddc": "DDC",
}
_DASHES = re.compile(r"\s*[-–—~～至]\s*")
_CLC = re.compile(r"([A-Z]{1,2})([0-9][0-9.]*)?")
_DDC = re.compile(r"([0-9]{1,3})(?:\.([0-9]*))?")
_LCC = re.compile(r"([A-Z]{1,3})\s*(?:([0-9]+(?:\.[0-9]+)?))?")


class _Classified(Protocol):
    scheme: str
    number: str


class _HasClasses(Protocol):
    @property
    def classifications(self) -> Iterable[_Classified]: ...


def _upper(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


# --- keys -----------------------------------------------------------------------------------


def _clc_key(number: str, *, whole: bool = False) -> str | None:
    text = _upper(number).replace(" ", "")
    match = _CLC.fullmatch(text) if whole else _CLC.match(text)
    if match is None or (whole and match.group(2) and match.group(2).endswith(".")):
        return None
    if not whole and not match.group(2):
        return None  # a class number has digits; "K" alone is a word, not a class
    return match.group(1) + (match.group(2) or "").replace(".", "")


def _ddc_key(number: str, *, whole: bool = False) -> str | None:
    text = _upper(number).translate(str.maketrans("", "", "/' "))
    match = _DDC.fullmatch(text) if whole else _DDC.match(text)
    if match is None or (not whole and len(match.group(1)) != 3):
        return None
    return match.group(1) + (match.group(2) or "")


_LccKey = tuple[str, Decimal | None]


def _lcc_key(number: str, *, whole: bool = False) -> _LccKey | None:
    text = _upper(number)
    match = _LCC.fullmatch(text) if whole else _LCC.match(text)
    if match is None or (not whole and not match.group(2)):
        return None  # a class number has a number ("IN PROCESS" is not class IN)
    return match.group(1), Decimal(match.group(2)) if match.group(2) else None


# --- ranges ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassRange:
    scheme: str
    text: str
    low: Any
    high: Any
    high_limit: Decimal | None = None  # LCC: the number the high bound stops below

    @classmethod
    def parse(cls, scheme: str, text: str, *, setting: str) -> ClassRange:
        if not isinstance(text, str) or not text.strip():
            raise ScopeError([f"{setting}: {text!r} is not a range such as A-K"])
        parts = _DASHES.split(_upper(text))
        if len(parts) > 2 or not all(parts):
            raise ScopeError([f"{setting}: {text!r} is not a range such as A-K or TP3"])
        key = {"clc": _clc_key, "ddc": _ddc_key, "lcc": _lcc_key}[scheme]
        keys = [key(part, whole=True) for part in parts]
        if any(k is None for k in keys):
            example = {"clc": "A-K or TP3", "ddc": "000-099 or 370", "lcc": "A-H or QA76-QA76.9"}
            raise ScopeError(
                [f"{setting}: {text!r} is not a {SCHEMES[scheme]} range such as {example[scheme]}"]
            )
        low, high = keys[0], keys[-1]
        limit = None
        if scheme == "lcc":
            number = high[1]
            if number is not None:
                limit = number + Decimal(1).scaleb(number.as_tuple().exponent)
        written = "-".join("".join(part.split()) for part in parts)
        made = cls(scheme, written, low, high, limit)
        if scheme in ("clc", "ddc") and low > high and not high.startswith(low):
            raise ScopeError([f"{setting}: {text!r} runs backwards"])
        if scheme == "lcc" and not made._at_least(high, low):
            raise ScopeError([f"{setting}: {text!r} runs backwards"])
        return made

    def contains(self, key: Any) -> bool:
        if self.scheme == "lcc":
            return self._at_least(key, self.low) and self._at_most(key)
        return key >= self.low and key[: len(self.high)] <= self.high

    @staticmethod
    def _at_least(key: _LccKey, bound: _LccKey) -> bool:
        letters, number = key
        bound_letters, bound_number = bound
        if bound_number is None:
            return letters >= bound_letters
        if letters != bound_letters:
            return letters > bound_letters
        return number is not None and number >= bound_number

    def _at_most(self, key: _LccKey) -> bool:
        letters, number = key
        bound_letters, bound_number = self.high
        if bound_number is None:
            return letters[: len(bound_letters)] <= bound_letters
        if letters != bound_letters:
            return letters < bound_letters
        return number is None or (self.high_limit is not None and number < self.high_limit)


_KEYS = {"clc": _clc_key, "ddc": _ddc_key, "lcc": _lcc_key}


@dataclass(frozen=True, slots=True)
class Decision:
    keep: bool
    reason: str
    category: str  # "in-scope", "out-of-scope", "unclassified"


# --- the rule -------------------------------------------------------------------------------


def _ranges(value: Any, setting: str, problems: list[str]) -> dict[str, tuple[ClassRange, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(f'{setting}: give ranges per scheme, such as {{"clc": ["A-K"]}}')
        return {}
    out: dict[str, tuple[ClassRange, ...]] = {}
    for scheme, texts in value.items():
        name = f"{setting}.{scheme}"
        if scheme not in SCHEMES:
            problems.append(f"{name}: unknown scheme (use {', '.join(SCHEMES)})")
            continue
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list | tuple):
            problems.append(f"{name}: give a list of ranges")
            continue
        ranges = []
        for text in texts:
            try:
                ranges.append(ClassRange.parse(scheme, text, setting=name))
            except ScopeError as exc:
                problems += exc.errors
        out[scheme] = tuple(ranges)
    return out


@dataclass(frozen=True)
class ScopeRule:
    name: str = "Everything"
    include: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unclassified: str = "keep"
    _include: dict[str, tuple[ClassRange, ...]] = field(init=False, repr=False, compare=False)
    _exclude: dict[str, tuple[ClassRange, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 100:
            problems.append("name: give a name of 1 to 100 characters")
        if self.unclassified not in ("keep", "reject"):
            problems.append(f"unclassified: {self.unclassified!r} must be keep or reject")
        include = _ranges(self.include, "include", problems)
        exclude = _ranges(self.exclude, "exclude", problems)
        if problems:
            raise ScopeError(problems)
        object.__setattr__(
            self, "include", {k: tuple(r.text for r in v) for k, v in include.items()}
        )
        object.__setattr__(
            self, "exclude", {k: tuple(r.text for r in v) for k, v in exclude.items()}
        )
        object.__setattr__(self, "_include", {k: v for k, v in include.items() if v})
        object.__setattr__(self, "_exclude", {k: v for k, v in exclude.items() if v})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "include": {k: list(v) for k, v in self.include.items()},
            "exclude": {k: list(v) for k, v in self.exclude.items()},
            "unclassified": self.unclassified,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScopeRule:
        if not isinstance(data, Mapping):
            raise ScopeError(["the scope rule must be a JSON object"])
        known = {"name", "include", "exclude", "unclassified"}
        problems = [f"{key}: unknown setting" for key in data if key not in known]
        if problems:
            raise ScopeError(problems)
        return cls(**{k: v for k, v in data.items() if k in known})

    def decide(self, bib: _HasClasses) -> Decision:
        numbers: list[tuple[str, str, Any]] = []
        for entry in bib.classifications:
            keyer = _KEYS.get(entry.scheme)
            key = keyer(entry.number) if keyer else None
            if key is not None and all(key != k or entry.scheme != s for s, _, k in numbers):
                numbers.append((entry.scheme, entry.number, key))
        for scheme, number, key in numbers:
            for rng in self._exclude.get(scheme, ()):
                if rng.contains(key):
                    return Decision(
                        False,
                        f"out of scope: {SCHEMES[scheme]} {number} is in the excluded range "
                        f"{rng.text}",
                        "out-of-scope",
                    )
        if not numbers:
            return self._unclassified("no CLC, LCC or DDC class number")
        if not self._include:
            return Decision(True, "in scope: this scope keeps every class", "in-scope")
        judged = [(s, n, k) for s, n, k in numbers if s in self._include]
        for scheme, number, key in judged:
            for rng in self._include[scheme]:
                if rng.contains(key):
                    return Decision(
                        True, f"in scope: {SCHEMES[scheme]} {number} is in {rng.text}", "in-scope"
                    )
        if judged:
            outside = ", ".join(f"{SCHEMES[s]} {n}" for s, n, _ in judged[:3])
            kept = "; ".join(
                f"{SCHEMES[s]} {', '.join(r.text for r in self._include[s])}"
                for s in dict.fromkeys(s for s, _, _ in judged)
            )
            return Decision(
                False, f"out of scope: {outside} outside the kept ranges ({kept})", "out-of-scope"
            )
        has = ", ".join(f"{SCHEMES[s]} {n}" for s, n, _ in numbers[:3])
        return self._unclassified(
            f"no class number in a scheme this scope has ranges for (has {has})"
        )

    def _unclassified(self, why: str) -> Decision:
        if self.unclassified == "keep":
            return Decision(True, f"{why}; kept (unclassified records are kept)", "unclassified")
        return Decision(False, f"{why}; unclassified records are not kept", "unclassified")


KEEP_EVERYTHING = ScopeRule()

HUMANITIES_SOCIAL_SCIENCES = ScopeRule(
    name="Humanities and social sciences",
    include={
        # CLC A-K: Marxism-Leninism, philosophy and religion, social sciences, politics and law,
        # military science, economics, culture/education/sport, language, literature, art,
        # history and geography.
        "clc": ("A-K",),
        # The same ground in LC: general works to social sciences, political science to fine
        # arts (music and art are in CLC J), language and literature, books and libraries.
        "lcc": ("A-H", "J-N", "P", "Z"),
        # Dewey: general works, philosophy to social sciences, language, arts to history.
        "ddc": ("000-099", "100-399", "400-499", "700-999"),
    },
    exclude={
        # Computing sits in Dewey's general works, physical geography and environmental
        # science in LC's G.
        "ddc": ("004-006",),
        "lcc": ("GB-GC", "GE"),
    },
    unclassified="keep",
)

PRESETS: dict[str, ScopeRule] = {
    "everything": KEEP_EVERYTHING,
    "humanities-social-sciences": HUMANITIES_SOCIAL_SCIENCES,
}
