"""Who may supply a request, and in what order to ask them. Pure: no Django.

Two separate steps, so staff can see both "why not this library" and "why this one first":

1. `eligible(candidates, request)` drops the requester itself, suppliers that do not offer the
   service, whose profile excludes the format or the requester's group, whose holdings
   statement says they lack the volume or year asked for (`kede.routing.coverage`), or that
   declared today closed (unless every one of them did: then their clocks stop and they
   stay) — each with its reason.
2. `rank(candidates, request, policy)` scores the rest by the centre's `Policy`: an ordered list
   of weighted criteria, each worth 0 to 1. A candidate's score is the weighted mean, and every
   criterion's share comes with a reason, so every ranking is explainable. Members come first;
   partners and lenders of last resort are ranked among themselves and appended after them.
   Within each, for a request for a volume or year of a serial, holders whose statement
   includes it come before holders whose statement cannot say (see `rank`).

Reasons are English templates with named parameters (`CriterionScore.message` and `.params`):
the Django layer translates the template, then formats it; `.reason` formats it untranslated.

The facts come in as plain data: the Django layer reads holders, directory profiles, loads,
lend/borrow counts and learned statistics (`kede.routing.stats`) for the request's service type
and builds one `Candidate` per supplier.
"""

from __future__ import annotations

import datetime
import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import NamedTuple

from kede.routing import stats as learned
from kede.routing.coverage import COVERED, NOT_COVERED, STATES, UNKNOWN
from kede.routing.rota import DEFAULT_CALENDAR, Calendar
from kede.routing.stats import DEFAULT_PRIOR, NO_HISTORY, Prior, StatsError, SupplierStats

MEMBER = "member"
PARTNER = "partner"  # external partners and lenders of last resort, configured by the centre


class PolicyError(ValueError):
    """A policy the centre tried to save is malformed; `path` names the faulty setting."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}" if path else detail)
        self.path = path
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Candidate:
    """One supplier as the router sees it for one request (price and stats are those of the
    request's service type). `institution` is the parent body: two libraries of one university
    share it, which is what `same_institution` rewards (filling locally)."""

    supplier: str
    institution: str = ""
    region: str = ""
    region_group: str = ""
    kind: str = MEMBER
    services: frozenset[str] = frozenset({"copy", "loan"})
    excluded_formats: frozenset[str] = frozenset()
    excluded_groups: frozenset[str] = frozenset()
    calendar: Calendar = DEFAULT_CALENDAR
    price: float = 0.0
    open_requests: int = 0
    capacity: int = 0  # open requests it can carry; 0 = not stated
    lent: int = 0  # supplied to others over the centre's balance window
    borrowed: int = 0  # received from others over the same window
    stats: SupplierStats = NO_HISTORY
    # For a request for a volume or year of a serial: whether the holder's holdings statement
    # includes it (kede.routing.coverage: covered, unknown, not_covered; "" not checked), and
    # the statement written out for the reasons.
    coverage: str = ""
    holdings: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.supplier, str) or not self.supplier:
            raise PolicyError("supplier", f"must be a non-empty id, got {self.supplier!r}")
        if self.kind not in (MEMBER, PARTNER):
            raise PolicyError("kind", f"must be {MEMBER!r} or {PARTNER!r}, got {self.kind!r}")
        if self.coverage not in STATES:
            raise PolicyError("coverage", f"must be one of {sorted(STATES)}, got {self.coverage!r}")
        if not (isinstance(self.price, int | float) and 0 <= self.price < math.inf):
            raise PolicyError("price", f"must be a finite number ≥ 0, got {self.price!r}")
        for name in ("open_requests", "capacity", "lent", "borrowed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise PolicyError(name, f"must be a whole number ≥ 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the ranking needs to know of the request and the library asking."""

    requester: str
    service_type: str
    today: datetime.date
    requester_institution: str = ""
    region: str = ""
    region_group: str = ""
    format: str = ""  # e.g. "book", "article", "thesis"
    requester_group: str = ""  # the requesting library's group as profiles name it
    asked: str = ""  # the volume or year of a serial asked for, written out ("v.12 (1998)")


@dataclass(frozen=True, slots=True)
class Excluded:
    candidate: Candidate
    code: str  # requester, duplicate, service, format, group, coverage, closed
    message: str
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def supplier(self) -> str:
        return self.candidate.supplier

    @property
    def reason(self) -> str:
        return self.message.format(**self.params)


def eligible(
    candidates: Iterable[Candidate], request: RequestFacts
) -> tuple[list[Candidate], list[Excluded]]:
    """Split candidates into those that may be asked and those that may not, with why."""
    kept: list[Candidate] = []
    excluded: list[Excluded] = []
    closed: list[Candidate] = []
    seen: set[str] = set()
    for c in candidates:
        if c.supplier == request.requester:
            why = Excluded(c, "requester", "is the requesting library")
        elif c.supplier in seen:
            why = Excluded(c, "duplicate", "is already a candidate")
        elif request.service_type not in c.services:
            why = Excluded(
                c, "service", "does not offer {service}", {"service": request.service_type}
            )
        elif request.format and request.format in c.excluded_formats:
            why = Excluded(c, "format", "does not supply {format}", {"format": request.format})
        elif request.requester_group and request.requester_group in c.excluded_groups:
            why = Excluded(
                c,
                "group",
                "does not supply libraries of group {group}",
                {"group": request.requester_group},
            )
        elif c.coverage == NOT_COVERED:
            why = Excluded(
                c,
                "coverage",
                "holds {holdings} by its holdings statement, not {asked}",
                {"holdings": c.holdings, "asked": request.asked},
            )
        else:
            why = None
            (closed if request.today in c.calendar.closed_dates else kept).append(c)
        seen.add(c.supplier)
        if why is not None:
            excluded.append(why)
    if not kept:
        # Everyone who could supply is closed today (a national holiday): leaving them all out
        # would end the request before it starts, while their clocks simply stop until they
        # reopen. Keep them.
        return closed, excluded
    day = request.today.isoformat()
    excluded += [Excluded(c, "closed", "is closed on {date}", {"date": day}) for c in closed]
    return kept, excluded


# --- criteria ---------------------------------------------------------------------------------
# Each returns (value in 0–1, English template, parameters). Values are absolute, not relative
# to the other candidates, so a score means the same thing in every ranking.

Evaluation = tuple[float, str, dict[str, object]]


def _same_institution(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    if c.institution and c.institution == r.requester_institution:
        return (
            1.0,
            "part of the requester's own institution ({institution})",
            {"institution": c.institution},
        )
    return 0.0, "another institution", {}


def _same_region(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    if c.region and c.region == r.region:
        return 1.0, "in the requester's region ({region})", {"region": c.region}
    return (
        0.0,
        "in region {region}, not the requester's ({home})",
        {
            "region": c.region or "?",
            "home": r.region or "?",
        },
    )


def _same_region_group(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    if c.region_group and c.region_group == r.region_group:
        return 1.0, "in the requester's region group ({group})", {"group": c.region_group}
    return (
        0.0,
        "in region group {group}, not the requester's ({home})",
        {
            "group": c.region_group or "?",
            "home": r.region_group or "?",
        },
    )


def _price(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    value = p.price_scale / (p.price_scale + c.price)
    return (
        value,
        "charges {price:.2f} for a {service} (half marks at {scale:.2f})",
        {
            "price": c.price,
            "service": r.service_type,
            "scale": p.price_scale,
        },
    )


def _fill_rate(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    rate = learned.fill_rate(c.stats, p.prior)
    if not c.stats.answered:
        return (
            rate,
            "no {service} history yet: the network's prior, {rate:.0%}",
            {
                "service": r.service_type,
                "rate": rate,
            },
        )
    return (
        rate,
        "filled {rate:.0%} of {service} requests ({filled:.0f} of {answered:.0f})",
        {
            "rate": rate,
            "service": r.service_type,
            "filled": c.stats.filled,
            "answered": c.stats.answered,
        },
    )


def _turnaround(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    days = learned.turnaround_days(c.stats, p.prior)
    value = p.turnaround_scale / (p.turnaround_scale + days)
    if not c.stats.supplied:
        return (
            value,
            "no {service} supplied yet: the network's prior, {days:.1f} days",
            {
                "service": r.service_type,
                "days": days,
            },
        )
    return (
        value,
        "supplies a {service} in {days:.1f} days on average ({supplied:.0f} timed)",
        {
            "service": r.service_type,
            "days": days,
            "supplied": c.stats.supplied,
        },
    )


def _shipping(c: Candidate, r: RequestFacts, p: Policy) -> float:
    if c.region and c.region == r.region:
        return p.shipping_days[0]
    if c.region_group and c.region_group == r.region_group:
        return p.shipping_days[1]
    return p.shipping_days[2]


def _days_per_fill(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    # Expected business days per fill (kede.routing.stats.days_per_fill: ordering by it is
    # Smith's rule), plus, for loans, the days the book then travels: asking i before j is
    # quicker on average when t_i / p_i + ship_i < t_j / p_j + ship_j.
    response = c.calendar.response_days
    ship = _shipping(c, r, p)
    per_fill, fill, turnaround, silent = learned.speed(c.stats, response, p.prior)
    days = per_fill + ship
    value = p.turnaround_scale / (p.turnaround_scale + days)
    params = {
        "days": days,
        "service": r.service_type,
        "fill": fill,
        "turnaround": turnaround,
        "silent": silent,
        "response": response,
        "ship": ship,
    }
    if not c.stats.answered:
        message = "no {service} history yet: by the network's prior, {days:.1f} days per fill"
    else:
        message = (
            "{days:.1f} days per {service} filled: fills {fill:.0%}, answers in {turnaround:.1f} "
            "days, silent past its {response} days {silent:.0%} of the time"
        )
    if ship:
        message += ", then {ship:.1f} days' shipping"
    return value, message, params


def _load(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    if not c.capacity:
        return (
            0.5,
            "{open} open requests, no capacity stated: counted as half loaded",
            {"open": c.open_requests},
        )
    ratio = c.open_requests / c.capacity
    return (
        max(0.0, 1.0 - ratio),
        "{open} open requests for a capacity of {capacity}",
        {
            "open": c.open_requests,
            "capacity": c.capacity,
        },
    )


def _lend_borrow_balance(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    # Laplace-smoothed share of borrowing: 0.5 when balanced, towards 0 for net lenders (spare
    # them), towards 1 for net borrowers (let them contribute).
    value = (c.borrowed + 1) / (c.lent + c.borrowed + 2)
    return value, "lent {lent}, borrowed {borrowed}", {"lent": c.lent, "borrowed": c.borrowed}


def _holdings_accuracy(c: Candidate, r: RequestFacts, p: Policy) -> Evaluation:
    accuracy = learned.holdings_accuracy(c.stats, p.prior)
    if not c.stats.checked:
        return (
            accuracy,
            "no look-ups yet: the network's prior, {accuracy:.0%} accurate",
            {"accuracy": accuracy},
        )
    return (
        accuracy,
        (
            "'not held / not on shelf' in {not_held:.0f} of {checked:.0f} look-ups ({accuracy:.0%} "
            "accurate)"
        ),
        {"not_held": c.stats.not_held, "checked": c.stats.checked, "accuracy": accuracy},
    )


CRITERIA: dict[str, Callable[[Candidate, RequestFacts, Policy], Evaluation]] = {
    "same_institution": _same_institution,
    "same_region": _same_region,
    "same_region_group": _same_region_group,
    "price": _price,
    "fill_rate": _fill_rate,
    "turnaround": _turnaround,
    "days_per_fill": _days_per_fill,
    "load": _load,
    "lend_borrow_balance": _lend_borrow_balance,
    "holdings_accuracy": _holdings_accuracy,
}


# --- policy -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Weighted:
    criterion: str
    weight: float


@dataclass(frozen=True, slots=True)
class Policy:
    """The centre's ranking policy. The order of `criteria` is the order staff read them in
    and breaks ties; the weights decide. `price_scale` is the price (in the consortium's
    currency) that earns half marks on price, `turnaround_scale` the days that earn half marks
    on turnaround and on days per fill. `shipping_days`: for a loan policy, the days the book
    takes to reach the requester from a library of its own region, of its region group, and
    from elsewhere (`SHIPPING`); days per fill adds them to a supplier's figure. All 0 (the
    default, and right for copies, which are delivered electronically): not counted."""

    criteria: tuple[Weighted, ...]
    prior: Prior = DEFAULT_PRIOR
    price_scale: float = 20.0
    turnaround_scale: float = 1.0
    shipping_days: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        # Policies built in code get the same checks as those read from configuration.
        Policy.from_config(self.to_config())

    @classmethod
    def from_config(cls, config: object) -> Policy:
        """Build a policy from the centre's saved settings, refusing anything malformed:

        {"criteria": [{"name": "fill_rate", "weight": 5}, …],
         "prior": {"fill_rate": 0.8, …}, "price_scale": 20, "turnaround_scale": 1,
         "shipping_days": {"same_region": 0.5, "same_region_group": 1, "elsewhere": 2}}
        """
        if not isinstance(config, Mapping):
            raise PolicyError(
                "", f"a policy is a mapping with a 'criteria' list, got {_kind(config)}"
            )
        unknown = sorted(set(map(str, config)) - _SETTINGS)
        if unknown:
            raise PolicyError(
                unknown[0],
                f"unknown setting{_suggest(unknown[0], _SETTINGS)}"
                f" (known: {', '.join(sorted(_SETTINGS))})",
            )
        criteria = _criteria_from(config.get("criteria"))
        prior = _prior_from(config.get("prior", {}))
        price_scale = _positive("price_scale", config.get("price_scale", 20.0))
        turnaround_scale = _positive("turnaround_scale", config.get("turnaround_scale", 1.0))
        shipping_days = _shipping_from(config.get("shipping_days", {}))
        policy = object.__new__(cls)  # skip __post_init__: everything is checked above
        for name, value in (
            ("criteria", criteria),
            ("prior", prior),
            ("price_scale", price_scale),
            ("turnaround_scale", turnaround_scale),
            ("shipping_days", shipping_days),
        ):
            object.__setattr__(policy, name, value)
        return policy

    def to_config(self) -> dict[str, object]:
        return {
            "criteria": [{"name": w.criterion, "weight": w.weight} for w in self.criteria],
            "prior": {f.name: getattr(self.prior, f.name) for f in fields(Prior)},
            "price_scale": self.price_scale,
            "turnaround_scale": self.turnaround_scale,
            "shipping_days": dict(zip(SHIPPING, self.shipping_days, strict=True)),
        }


_SETTINGS = frozenset({"criteria", "prior", "price_scale", "turnaround_scale", "shipping_days"})
# Where a loan ships from, as `Policy.shipping_days` names it.
SHIPPING = ("same_region", "same_region_group", "elsewhere")


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, Mapping) else "a mapping"


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number(path: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(path, f"must be a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise PolicyError(path, f"must be a finite number, got {value!r}")
    return float(value)


def _positive(path: str, value: object) -> float:
    number = _number(path, value)
    if number <= 0:
        raise PolicyError(path, f"must be > 0, got {value!r}")
    return number


def _criteria_from(raw: object) -> tuple[Weighted, ...]:
    if raw is None:
        raise PolicyError("criteria", "missing: list the criteria and their weights")
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Sequence):
        raise PolicyError("criteria", f"must be a list of {{name, weight}}, got {_kind(raw)}")
    if not raw:
        raise PolicyError("criteria", "must name at least one criterion")
    out: list[Weighted] = []
    where: dict[str, int] = {}
    for i, item in enumerate(raw):
        path = f"criteria[{i}]"
        if not isinstance(item, Mapping):
            raise PolicyError(
                path, f"must be a mapping with 'name' and 'weight', got {_kind(item)}"
            )
        extra = sorted(set(map(str, item)) - {"name", "weight"})
        if extra:
            raise PolicyError(f"{path}.{extra[0]}", "unknown key (only 'name' and 'weight')")
        for key in ("name", "weight"):
            if key not in item:
                raise PolicyError(path, f"missing {key!r}")
        name = item["name"]
        if not isinstance(name, str) or name not in CRITERIA:
            raise PolicyError(
                f"{path}.name",
                f"unknown criterion {name!r}"
                f"{_suggest(name, CRITERIA) if isinstance(name, str) else ''}"
                f" (known: {', '.join(CRITERIA)})",
            )
        if name in where:
            raise PolicyError(f"{path}.name", f"{name!r} is already criteria[{where[name]}]")
        weight = _number(f"{path}.weight", item["weight"])
        if weight < 0:
            raise PolicyError(f"{path}.weight", f"must be ≥ 0, got {item['weight']!r}")
        where[name] = i
        out.append(Weighted(name, weight))
    if not any(w.weight > 0 for w in out):
        raise PolicyError("criteria", "at least one weight must be > 0 (all are 0)")
    return tuple(out)


def _shipping_from(raw: object) -> tuple[float, float, float]:
    if not isinstance(raw, Mapping):
        raise PolicyError("shipping_days", f"must be a mapping, got {_kind(raw)}")
    extra = sorted(set(map(str, raw)) - set(SHIPPING))
    if extra:
        raise PolicyError(
            f"shipping_days.{extra[0]}",
            f"unknown setting{_suggest(extra[0], SHIPPING)} (known: {', '.join(SHIPPING)})",
        )
    days = []
    for name in SHIPPING:
        value = _number(f"shipping_days.{name}", raw.get(name, 0.0))
        if value < 0:
            raise PolicyError(f"shipping_days.{name}", f"must be ≥ 0, got {raw[name]!r}")
        days.append(value)
    return (days[0], days[1], days[2])


def _prior_from(raw: object) -> Prior:
    if isinstance(raw, Prior):
        return raw
    if not isinstance(raw, Mapping):
        raise PolicyError("prior", f"must be a mapping, got {_kind(raw)}")
    known = {f.name for f in fields(Prior)}
    extra = sorted(set(map(str, raw)) - known)
    if extra:
        raise PolicyError(
            f"prior.{extra[0]}",
            f"unknown setting{_suggest(extra[0], known)} (known: {', '.join(sorted(known))})",
        )
    values = {k: _number(f"prior.{k}", v) for k, v in raw.items()}
    try:
        return Prior(**values)
    except StatsError as exc:
        raise PolicyError("prior", str(exc)) from exc


# --- ranking ----------------------------------------------------------------------------------


class CriterionScore(NamedTuple):
    """One criterion's part in a candidate's score. `weight` is the criterion's share of the
    policy's total weight, so the points of a breakdown add up to the score. (A named tuple,
    not a frozen dataclass: rank() builds one per criterion per candidate, and tuples are
    built several times faster.)"""

    criterion: str
    weight: float
    value: float
    message: str
    params: Mapping[str, object]

    @property
    def points(self) -> float:
        return self.weight * self.value

    @property
    def reason(self) -> str:
        return self.message.format(**self.params)


@dataclass(frozen=True, slots=True)
class Ranked:
    candidate: Candidate
    score: float  # 0–1: the weighted mean of the criteria's values
    breakdown: tuple[CriterionScore, ...]

    @property
    def supplier(self) -> str:
        return self.candidate.supplier

    @property
    def tier(self) -> str:
        return self.candidate.kind

    def explain(self) -> str:
        """The ranking as staff read it, one line per criterion (untranslated)."""
        lines = [f"{self.supplier} ({self.tier}): score {self.score:.3f}"]
        lines += [
            f"  {s.criterion}: {s.points:.3f} = {s.weight:.2f} × {s.value:.2f} — {s.reason}"
            for s in self.breakdown
        ]
        return "\n".join(lines)


# Not a weighted criterion: for a request for a volume or year of a serial, what the holder's
# holdings statement says orders the holders before their scores do (see rank). It is shown
# first in the breakdown, with no share of the score.
COVERAGE = "coverage"


def _coverage(c: Candidate, r: RequestFacts) -> CriterionScore | None:
    params = {"holdings": c.holdings, "asked": r.asked}
    if c.coverage == COVERED:
        message = "its holdings statement ({holdings}) includes {asked}"
        return CriterionScore(COVERAGE, 0.0, 1.0, message, params)
    if c.coverage != UNKNOWN:
        return None
    if c.holdings:
        message = (
            "its holdings statement ({holdings}) cannot say whether it has {asked}: asked "
            "after the holders whose statement includes it"
        )
    else:
        message = (
            "no holdings statement: whether it has {asked} is not known, so it is asked after "
            "the holders whose statement includes it"
        )
    return CriterionScore(COVERAGE, 0.0, 0.0, message, params)


def rank(candidates: Iterable[Candidate], request: RequestFacts, policy: Policy) -> list[Ranked]:
    """Order candidates best first: members by score, then partners by score. Ties go to the
    better value on the criteria in the policy's order, then to the supplier id, so the same
    facts always give the same rota. Call `eligible` first: rank excludes nobody.

    Within members (and within partners), holders whose holdings statement cannot say whether
    they have the volume or year asked for come after those whose statement includes it,
    whatever their scores. The criteria estimate how well a library supplies what it holds;
    they cannot tell whether it holds this volume. A statement that includes it is the
    catalogue's word that it does; without one, the union catalogue only says it holds the
    journal, and a "not held" answer costs the reader a whole round (a day or more) that no
    difference in price, region or speed between holders makes up for. Holders the statement
    rules out never get here (`eligible`)."""
    total = sum(w.weight for w in policy.criteria)
    plan = [(w.criterion, w.weight / total, CRITERIA[w.criterion]) for w in policy.criteria]
    make = tuple.__new__
    keyed = []
    for c in candidates:
        breakdown = []
        if c.coverage:
            note = _coverage(c, request)
            if note is not None:
                breakdown.append(note)
        values = []
        score = 0.0
        for name, share, evaluate in plan:
            value, message, params = evaluate(c, request, policy)
            score += share * value
            values.append(-value)
            breakdown.append(make(CriterionScore, (name, share, value, message, params)))
        # Rounded so that float noise in the sum never outranks the tie-breaking criteria.
        key = (c.kind != MEMBER, c.coverage == UNKNOWN, -round(score, 12), values, c.supplier)
        keyed.append((key, Ranked(c, score, tuple(breakdown))))
    keyed.sort(key=_first)
    return [r for _, r in keyed]


def _first(pair: tuple) -> object:
    return pair[0]
