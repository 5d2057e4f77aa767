"""A year of interlibrary requests over ~300 simulated suppliers, under three routing policies.

    .venv/bin/python bench/routing_sim.py [--seed 1] [--requests 40000] [--jobs 3] [--json]
        [--max-rota 5] [--patience 14] [--ceiling]

The world (built from `--seed`, the same for every policy):

- 294 member libraries in 8 regions of 3 region groups: 36 big research libraries (large
  collections, accurate catalogues, fast, dearer), 108 mid-sized universities and 150 small
  colleges (cheap, few holdings, stale catalogues, slow, one person handling a few requests a
  day, and quiet for days at a time without telling anyone), plus 6 partners / lenders of last
  resort (national and provincial libraries, document centres, two vendors) asked after the
  members. Some members do not lend books, or do not supply theses, or do not serve private
  colleges; some declare stocktaking closures; everyone closes on the national holidays.
- What a router can know: the union catalogue's holders, the directory (region, prices,
  services, exclusions, stated response days, stated capacity, declared closed days), every
  supplier's open requests and lend/borrow counts, how long the consortium's courier takes to
  ship a book between regions, and what the answers so far have taught it.
- What stays hidden and decides the outcomes: each supplier's holdings accuracy (is the item
  really on the shelf?), its fill probability when it is, its share of conditional answers,
  its turnaround (log-normal, in its own business days), its true pace (requests handled per
  business day: beyond half a day's work in hand a queue builds up), and its undeclared
  outages.
- Requests: Zipf-distributed titles over 300,000 works (popular ones held by dozens of
  libraries, the long tail by one to three, big libraries far more often); 85% copies, 15%
  loans; more on weekdays and in term; requesters weighted by size.
- The same pseudo-random draws decide what a given supplier does with a given request under
  every policy (common random numbers), so differences come from routing, not from luck.

Each policy builds a rota of at most `--max-rota` suppliers (a classic lender string holds five)
and the same `kede.routing.rota.next_step` drives it: on to the next supplier after an unfilled
answer, a rejected condition, or silence past the stated response time (business days by the
supplier's declared calendar); after the last, proxy search (counted unfilled). A request still
unfilled `--patience` calendar days after submission is not sent to anyone else: the reader has
given up (withdrawn, counted unfilled).

- static_cheapest_first: the holders by price, then the partners (a static lender string; knows
  nothing of profiles, closures, loads or past answers);
- round_robin: the holders from a rotating starting point, then the partners;
- kede: `kede.routing.policy.eligible` and `rank` with the centre's policies `KEDE_POLICIES`
  (one per service type), learning `kede.routing.stats` online from every ended attempt — from
  nothing on 1 January, so the year's first requests are routed on priors — with the prior
  re-pooled monthly from the network's record;
- informed (`--ceiling`, text output only): not a policy but a yardstick, a router that knows
  every supplier's hidden parameters (not what a given request will meet) and orders by chance
  of filling per expected day, shipping counted for loans;
- oracle (`--ceiling`, text output only): the floor no router reaches, one that knows what
  every supplier will do with each request and when, and sends it straight to the one whose
  fill reaches the reader first.

Figures per policy: fill_rate; mean and p90 turnaround in calendar days from submission until
the copy is delivered or the loan arrives (shipping: half a day within the region, one within
the region group, two beyond); cost_per_filled (the fee of the library that filled);
load_gini (Gini coefficient of requests filled per member library); and more for reading
(turnaround of copies and of loans alone and in business days, attempts, timeouts, and where
the days of a filled request went: waiting on suppliers that said no, waiting on silent ones
until their timer, the attempt that filled it, shipping). Then rank() itself:
eligible() + rank() decisions/s and latency percentiles for 20, 35 and 50 candidates on one
core. With `--json`, stdout is exactly one JSON object, {"policies": {…}}; the rank() figures
and the run's facts then go to stderr. The policies run in `--jobs` processes; the figures do
not depend on it.
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import heapq
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from kede.routing import stats as learned
from kede.routing.policy import PARTNER, Candidate, Policy, RequestFacts, eligible, rank
from kede.routing.rota import (
    WEEKDAYS,
    Answered,
    Calendar,
    Outcome,
    RotaState,
    Start,
    Status,
    TimerFired,
    business_days_elapsed,
    next_step,
)

# The routing centre's policies for the simulated consortium, one per service type, as it would
# save them. Speed is judged by days per fill (expected days an attempt costs over its chance
# of filling: ordering by it is Smith's rule), which reads the learned fill rate, turnaround
# and timeout rate together. Copies travel electronically: region counts for little. A loan's
# book then travels by courier (half a day within the region, one within the region group,
# two beyond, as the centre knows its couriers): the loan policy adds those days to days per
# fill instead of weighing region separately, and gives half marks at two days, not one.
KEDE_POLICY = {
    "criteria": [
        {"name": "days_per_fill", "weight": 11},
        {"name": "holdings_accuracy", "weight": 2},
        {"name": "load", "weight": 2},
        {"name": "lend_borrow_balance", "weight": 0.5},
        {"name": "price", "weight": 0.5},
        {"name": "same_institution", "weight": 0.5},
        {"name": "same_region", "weight": 0.3},
        {"name": "same_region_group", "weight": 0.2},
    ],
    "price_scale": 20,
    "turnaround_scale": 1,
}
KEDE_LOAN_POLICY = {
    "criteria": [
        {"name": "days_per_fill", "weight": 11},
        {"name": "holdings_accuracy", "weight": 2},
        {"name": "load", "weight": 2},
        {"name": "lend_borrow_balance", "weight": 0.5},
        {"name": "price", "weight": 0.5},
        {"name": "same_institution", "weight": 0.5},
    ],
    "price_scale": 20,
    "turnaround_scale": 2,
    "shipping_days": {"same_region": 0.5, "same_region_group": 1, "elsewhere": 2},
}
KEDE_POLICIES = {"copy": KEDE_POLICY, "loan": KEDE_LOAN_POLICY}
STATS_DECAY = 0.995  # per observation: a busy library's record spans its last few hundred
POLICIES = ("static_cheapest_first", "round_robin", "kede")

YEAR = 2025
TZ = datetime.timezone(datetime.timedelta(hours=8))
EPOCH = datetime.datetime(YEAR, 1, 1, tzinfo=TZ)
DAYS = 365
HORIZON = DAYS + 150  # the year's last requests still run into the next one
N_WORKS = 300_000
ZIPF_S = 0.75
HOLIDAYS = [  # declared closed by every library (the national holidays)
    ("2025-01-01", 1),
    ("2025-01-28", 8),
    ("2025-04-04", 3),
    ("2025-05-01", 5),
    ("2025-05-31", 3),
    ("2025-10-01", 8),
]
REGIONS = [
    ("E1", "east"),
    ("E2", "east"),
    ("E3", "east"),
    ("C1", "central"),
    ("C2", "central"),
    ("C3", "central"),
    ("W1", "west"),
    ("W2", "west"),
]
# type: count, catalogue weight, borrowing weight, accuracy, fill|held, copy median business
# days, copy price, loan price, requests handled per business day, response days,
# outages/year, outage days
TYPES = {
    "research": (36, 12.0, 6.0, (0.90, 0.98), (0.88, 0.98), (0.25, 0.7), (8, 16), (15, 30),
                 (10, 30), 2, 0.2, (1, 4)),
    "mid": (108, 3.0, 2.5, (0.72, 0.92), (0.72, 0.92), (0.5, 1.5), (4, 10), (8, 18),
            (4, 10), 2, 0.8, (2, 10)),
    "small": (150, 1.0, 1.5, (0.45, 0.80), (0.50, 0.85), (1.0, 3.0), (0, 5), (0, 10),
              (1.5, 4), 3, 2.0, (3, 20)),
}  # fmt: skip
PARTNERS = [
    # code, services, coverage, fill|held, median days, copy price, loan price, per day
    ("P-NLC", {"copy", "loan"}, 0.70, 0.95, 0.8, 30, 45, 400),
    ("P-SHL", {"copy", "loan"}, 0.55, 0.95, 0.7, 25, 40, 300),
    ("P-NSTL", {"copy"}, 0.75, 0.97, 0.5, 28, 0, 500),
    ("P-CASHL", {"copy"}, 0.50, 0.95, 0.8, 20, 0, 300),
    ("P-V1", {"copy"}, 0.45, 0.98, 0.3, 50, 0, 1000),
    ("P-V2", {"copy"}, 0.35, 0.98, 0.4, 45, 0, 1000),
]


# --- the world ----------------------------------------------------------------------------------


@dataclass
class Supplier:
    idx: int
    code: str
    kind: str
    type: str
    region: str
    group: str
    catalogue_weight: float
    borrowing_weight: float
    services: frozenset[str]
    excluded_formats: frozenset[str]
    excluded_groups: frozenset[str]
    price: dict[str, float]
    capacity: int  # stated in the directory: open requests it can carry
    calendar: Calendar
    # hidden from the router
    accuracy: float
    fill_given_held: float
    conditional_share: float
    median_days: dict[str, float]
    throughput: float  # requests it really handles per business day
    open_prefix: list[int] = field(repr=False)


@dataclass
class Req:
    id: int
    t: float
    requester: int
    work: int
    service: str
    format: str


@dataclass
class World:
    seed: int
    suppliers: list[Supplier]
    members: list[Supplier]
    partners: list[Supplier]
    requests: list[Req]
    holders: Callable[[int], tuple[int, ...]]
    calendars: dict[str, Calendar]
    groups: dict[int, str]  # requester group (institution type) by supplier idx


def _date(day: int) -> datetime.date:
    return (EPOCH + datetime.timedelta(days=day)).date()


def _to_dt(t: float) -> datetime.datetime:
    return EPOCH + datetime.timedelta(days=t)


def _from_dt(dt: datetime.datetime) -> float:
    return (dt - EPOCH).total_seconds() / 86400.0


def _mix(*parts: int) -> int:
    """splitmix64 over the parts: a fast, order-sensitive, platform-independent hash."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = (x ^ (p & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 29
    return x


def _uniform(*parts: int) -> float:
    return (_mix(*parts) >> 11) * (1.0 / (1 << 53))


_NORMAL = statistics.NormalDist()


def _lognormal(median: float, sigma: float, u: float) -> float:
    return median * math.exp(sigma * _NORMAL.inv_cdf(min(max(u, 1e-9), 1 - 1e-9)))


def build_world(seed: int, n_requests: int) -> World:
    rng = random.Random(seed)
    holidays = set()
    for start, days in HOLIDAYS:
        first = datetime.date.fromisoformat(start)
        holidays |= {first + datetime.timedelta(days=i) for i in range(days)}
    suppliers: list[Supplier] = []

    def add(
        code, kind, type_, region, group, cat_w, bor_w, services, xf, xg, price, cap,
        response_days, declared, outages, accuracy, fill, cond, medians, throughput,
    ):  # fmt: skip
        true_open = []
        for d in range(HORIZON):
            day = _date(d)
            true_open.append(
                day.weekday() in WEEKDAYS and day not in declared and day not in outages
            )
        prefix = [0]
        for is_open in true_open:
            prefix.append(prefix[-1] + is_open)
        suppliers.append(
            Supplier(
                idx=len(suppliers),
                code=code,
                kind=kind,
                type=type_,
                region=region,
                group=group,
                catalogue_weight=cat_w,
                borrowing_weight=bor_w,
                services=frozenset(services),
                excluded_formats=frozenset(xf),
                excluded_groups=frozenset(xg),
                price=price,
                capacity=cap,
                calendar=Calendar(
                    open_weekdays=WEEKDAYS,
                    closed_dates=frozenset(declared),
                    response_days=response_days,
                ),
                accuracy=accuracy,
                fill_given_held=fill,
                conditional_share=cond,
                median_days=medians,
                throughput=throughput,
                open_prefix=prefix,
            )
        )

    n = 0
    for type_, spec in TYPES.items():
        count, cat_w, bor_w, acc, fill, med, cprice, lprice, cap, resp, outage_rate, olen = spec
        for _ in range(count):
            n += 1
            region, group = REGIONS[rng.randrange(len(REGIONS))]
            declared = set(holidays)
            for _ in range(rng.choice((0, 0, 1, 1, 2))):  # stocktaking, moves: announced
                start = rng.randrange(DAYS)
                declared |= {_date(start + i) for i in range(rng.randint(1, 5))}
            outages = set()  # staff away, system down: nobody is told
            for _ in range(_poisson(rng, outage_rate)):
                start = rng.randrange(DAYS)
                outages |= {_date(start + i) for i in range(rng.randint(*olen))}
            services = {"copy", "loan"}
            if type_ == "small" and rng.random() < 0.15:
                services.discard("loan")
            xf = {"thesis"} if rng.random() < 0.12 else set()
            xg = {"private_college"} if rng.random() < 0.05 else set()
            median = rng.uniform(*med)
            per_day = rng.uniform(*cap)
            add(
                f"M{n:03d}",
                "member",
                type_,
                region,
                group,
                cat_w * rng.uniform(0.5, 1.5),
                bor_w * rng.uniform(0.5, 1.5),
                services,
                xf,
                xg,
                {"copy": round(rng.uniform(*cprice), 1), "loan": round(rng.uniform(*lprice), 1)},
                max(1, round(per_day * resp)),
                resp,
                declared,
                outages,
                rng.uniform(*acc),
                rng.uniform(*fill),
                rng.uniform(0.2, 0.5),
                {"copy": median, "loan": median * rng.uniform(1.2, 2.0)},
                per_day * rng.uniform(0.6, 1.3),
            )
    for code, services, coverage, fill, median, cprice, lprice, cap in PARTNERS:
        region, group = REGIONS[rng.randrange(len(REGIONS))]
        add(
            code,
            PARTNER,
            "partner",
            region,
            group,
            0.0,
            0.0,
            services,
            set(),
            set(),
            {"copy": float(cprice), "loan": float(lprice)},
            cap * 2,
            2,
            set(holidays),
            set(),
            coverage,
            fill,
            0.3,
            {"copy": median, "loan": median * 1.5},
            float(cap),
        )
    members = [s for s in suppliers if s.kind == "member"]
    partners = [s for s in suppliers if s.kind == PARTNER]
    groups = {}
    for s in members:
        groups[s.idx] = {"research": "research_university", "mid": "undergraduate_college"}.get(
            s.type, "private_college" if rng.random() < 0.3 else "vocational_college"
        )

    # The union catalogue: holders of a work drawn from the work's own seed (so every policy
    # sees the same catalogue whatever order works are first asked for in).
    cum_catalogue = list(_accumulate(s.catalogue_weight for s in members))
    total_catalogue = cum_catalogue[-1]
    holder_cache: dict[int, tuple[int, ...]] = {}

    def holders(work: int) -> tuple[int, ...]:
        got = holder_cache.get(work)
        if got is not None:
            return got
        wr = random.Random(_mix(seed, 0x401D, work))
        typical = 1.5 + 70.0 / (1.0 + work / 150.0) ** 0.6
        want = max(1, min(len(members) // 3, round(typical * math.exp(0.6 * wr.gauss(0, 1)))))
        chosen: dict[int, None] = {}
        for _ in range(want * 4):
            pick = bisect.bisect_right(cum_catalogue, wr.random() * total_catalogue)
            chosen[members[min(pick, len(members) - 1)].idx] = None
            if len(chosen) >= want:
                break
        holder_cache[work] = got = tuple(chosen)
        return got

    # Requests: Zipf titles, weekday and term-time seasonality, requesters by size.
    zipf = list(_accumulate((k + 1) ** -ZIPF_S for k in range(N_WORKS)))
    day_weight = []
    for d in range(DAYS):
        day = _date(d)
        w = 1.0 if day.weekday() < 5 else 0.3
        if day in holidays:
            w *= 0.3
        if datetime.date(YEAR, 1, 18) <= day <= datetime.date(YEAR, 2, 20):
            w *= 0.4
        if datetime.date(YEAR, 7, 10) <= day <= datetime.date(YEAR, 8, 31):
            w *= 0.5
        day_weight.append(w)
    cum_days = list(_accumulate(day_weight))
    cum_borrow = list(_accumulate(s.borrowing_weight for s in members))
    requests = []
    for i in range(n_requests):
        day = bisect.bisect_right(cum_days, rng.random() * cum_days[-1])
        t = min(day, DAYS - 1) + rng.uniform(0.33, 0.92)  # 08:00 to 22:00
        requester = members[
            min(len(members) - 1, bisect.bisect_right(cum_borrow, rng.random() * cum_borrow[-1]))
        ].idx
        work = bisect.bisect_right(zipf, rng.random() * zipf[-1])
        service = "copy" if rng.random() < 0.85 else "loan"
        if service == "loan":
            fmt = "thesis" if rng.random() < 0.08 else "book"
        else:
            fmt = rng.choices(("article", "book", "thesis"), (0.75, 0.2, 0.05))[0]
        requests.append(Req(i, t, requester, min(work, N_WORKS - 1), service, fmt))
    requests.sort(key=lambda r: (r.t, r.id))
    return World(
        seed=seed,
        suppliers=suppliers,
        members=members,
        partners=partners,
        requests=requests,
        holders=holders,
        calendars={s.code: s.calendar for s in suppliers},
        groups=groups,
    )


def _accumulate(values):
    total = 0.0
    for v in values:
        total += v
        yield total


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# --- one policy over the year -------------------------------------------------------------------


def _business(s: Supplier, t: float) -> float:
    """Business time (open days elapsed) at calendar time t, by the supplier's true calendar."""
    d = min(int(t), HORIZON - 1)
    base = s.open_prefix[d]
    opened = s.open_prefix[d + 1] - base
    return base + (t - d if opened else 0.0)


def _calendar_time(s: Supplier, b: float) -> float:
    if b >= s.open_prefix[-1]:
        return math.inf
    d = bisect.bisect_right(s.open_prefix, b) - 1
    return d + (b - s.open_prefix[d])


@dataclass
class Verdict:
    outcome: Outcome
    reason: str
    not_held: bool
    business_days: float


def hidden_verdict(world: World, req: Req, s: Supplier, open_now: int) -> Verdict:
    """What supplier s really does with request req: the same draws under every policy."""
    u = [_uniform(world.seed, req.id, s.idx, k) for k in range(5)]
    group = world.groups.get(req.requester, "")
    median = s.median_days[req.service]
    # Beyond half a day's work in hand, a queue builds up at the supplier's true pace.
    queue = max(0.0, open_now / s.throughput - 0.5)
    work = _lognormal(median, 0.6, u[4]) + queue
    if (
        req.service not in s.services
        or req.format in s.excluded_formats
        or group in s.excluded_groups
    ):
        return Verdict(Outcome.UNFILLED, "not supplied under our terms", False, 0.2 + queue)
    held = u[0] < s.accuracy
    if not held:
        return Verdict(Outcome.UNFILLED, "not held / not on shelf", True, 0.5 * work)
    if u[1] < s.fill_given_held:
        return Verdict(Outcome.FILLED, "", False, work)
    if u[2] < s.conditional_share:
        return Verdict(Outcome.REJECTED_CONDITION, "conditions declined", False, 0.7 * work)
    return Verdict(Outcome.UNFILLED, "in use", False, 0.5 * work)


def _shipping(world: World, req: Req, s: Supplier) -> float:
    if req.service != "loan":
        return 0.0
    home = world.suppliers[req.requester]
    if home.region == s.region:
        return 0.5
    return 1.0 if home.group == s.group else 2.0


def simulate_policy(world: World, name: str, max_rota: int, patience: float) -> dict:
    """One policy over the world's year: an event loop of arrivals, answers and timers."""
    suppliers = world.suppliers
    by_code = {s.code: s for s in suppliers}
    open_count = [0] * len(suppliers)
    lent = [0] * len(suppliers)
    borrowed = [0] * len(suppliers)
    filled_by = [0] * len(suppliers)
    stats: dict[tuple[int, str], learned.SupplierStats] = {}
    policies = {svc: Policy.from_config(KEDE_POLICIES[svc]) for svc in ("copy", "loan")}
    next_pool = 30.0
    rr_counter = 0
    states: dict[int, RotaState] = {}
    timers: dict[int, list[tuple[datetime.datetime, datetime.datetime]]] = {}  # sent_at, due
    verdicts: dict[int, Verdict] = {}
    reqs = {r.id: r for r in world.requests}
    # time, seq (FIFO among equal times), kind, request, supplier, attempt number
    heap: list[tuple[float, int, int, int, int, int]] = []
    seq = 0
    ARRIVE, ANSWER, TIMER = 0, 1, 2
    for r in world.requests:
        heap.append((r.t, seq, ARRIVE, r.id, -1, -1))
        seq += 1
    heapq.heapify(heap)
    results: dict[int, tuple[str, float, float, int, float]] = {}
    attempts = timeouts = first_try = 0
    # Where a filled request's days went: waiting on suppliers that then said no, waiting on
    # silent ones until their timer, the attempt that filled it, and shipping (loans).
    spent: dict[int, list[float]] = {}  # request -> [on refusals, on timeouts]
    parts = {"refusals": 0.0, "timeouts": 0.0, "filling": 0.0, "shipping": 0.0}
    parts_by_service = {svc: dict.fromkeys(parts, 0.0) for svc in ("copy", "loan")}

    def rota_for(req: Req, t: float) -> tuple[str, ...]:
        nonlocal rr_counter, next_pool, policies
        holders = [suppliers[i] for i in world.holders(req.work) if i != req.requester]
        partners = [s for s in world.partners if req.service in s.services]
        if name == "static_cheapest_first":
            ordered = sorted(holders, key=lambda s: (s.price[req.service], s.code))
            ordered += sorted(partners, key=lambda s: (s.price[req.service], s.code))
        elif name == "round_robin":
            if holders:
                k = rr_counter % len(holders)
                rr_counter += 1
                holders = holders[k:] + holders[:k]
            ordered = holders + partners
        elif name == "oracle":
            # The floor, not a policy: knows what every supplier will do with this very
            # request, and when, and sends it straight to the one whose fill reaches the
            # reader first. No router can beat it (except by luck with queues).
            best: tuple[float, str] | None = None
            for s in (*holders, *partners):
                verdict = hidden_verdict(world, req, s, open_count[s.idx] + 1)
                if verdict.outcome is not Outcome.FILLED:
                    continue
                answer_at = _calendar_time(s, _business(s, t) + verdict.business_days)
                if answer_at >= _from_dt(s.calendar.due_at(_to_dt(t))):
                    continue
                arrives = answer_at + _shipping(world, req, s)
                if best is None or (arrives, s.code) < best:
                    best = (arrives, s.code)
            if best is not None:
                return (best[1],)
            ordered = holders + partners
        elif name == "informed":
            # The ceiling, not a policy: knows every supplier's hidden parameters (not what a
            # given request will meet) and orders by chance of filling per expected day, the
            # book's shipping counted for a loan (Smith's rule: p / (days + p × shipping)).
            def merit(s: Supplier) -> float:
                if (
                    req.service not in s.services
                    or req.format in s.excluded_formats
                    or world.groups.get(req.requester, "") in s.excluded_groups
                ):
                    return 0.0
                days = s.median_days[req.service] * 1.2 + max(
                    0.0, (open_count[s.idx] + 1) / s.throughput - 0.5
                )
                p = s.accuracy * s.fill_given_held
                return p / (days + p * _shipping(world, req, s))

            ordered = sorted(holders, key=lambda s: (-merit(s), s.code))
            ordered += sorted(partners, key=lambda s: (-merit(s), s.code))
        else:
            if t >= next_pool:  # monthly: a new supplier starts at the network's average
                next_pool += 30.0
                policies = {
                    svc: Policy.from_config(
                        {
                            **KEDE_POLICIES[svc],
                            "prior": learned.pooled_prior(
                                [v for (_, sv), v in stats.items() if sv == svc]
                            ),
                        }
                    )
                    for svc in ("copy", "loan")
                }
            home = suppliers[req.requester]
            facts = RequestFacts(
                requester=home.code,
                service_type=req.service,
                today=_to_dt(t).date(),
                requester_institution=home.code,
                region=home.region,
                region_group=home.group,
                format=req.format,
                requester_group=world.groups.get(req.requester, ""),
            )
            candidates = [
                Candidate(
                    supplier=s.code,
                    institution=s.code,
                    region=s.region,
                    region_group=s.group,
                    kind=s.kind,
                    services=s.services,
                    excluded_formats=s.excluded_formats,
                    excluded_groups=s.excluded_groups,
                    calendar=s.calendar,
                    price=s.price[req.service],
                    open_requests=open_count[s.idx],
                    capacity=s.capacity,
                    lent=lent[s.idx],
                    borrowed=borrowed[s.idx],
                    stats=stats.get((s.idx, req.service), learned.NO_HISTORY),
                )
                for s in (*holders, *partners)
            ]
            kept, _ = eligible(candidates, facts)
            return tuple(r.supplier for r in rank(kept, facts, policies[req.service]))[:max_rota]
        return tuple(s.code for s in ordered)[:max_rota]

    def send(rid: int, code: str, t: float, due: datetime.datetime) -> None:
        nonlocal seq, attempts
        s = by_code[code]
        req = reqs[rid]
        verdict = hidden_verdict(world, req, s, open_count[s.idx] + 1)
        open_count[s.idx] += 1
        attempts += 1
        verdicts[rid] = verdict
        answer_at = _calendar_time(s, _business(s, t) + verdict.business_days)
        sent = timers.setdefault(rid, [])
        sent.append((_to_dt(t), due))
        due_t = _from_dt(due)
        if answer_at < due_t:  # else it answers too late: the timer moves the request on
            heapq.heappush(heap, (answer_at, seq, ANSWER, rid, s.idx, len(sent) - 1))
            seq += 1
        # Like the Django layer, set a timer for every attempt; it still fires after an
        # answer, and next_step finds the attempt no longer pending and does nothing.
        heapq.heappush(heap, (due_t, seq, TIMER, rid, s.idx, len(sent) - 1))
        seq += 1

    def close_attempt(rid: int, s: Supplier, outcome: Outcome, t: float) -> None:
        open_count[s.idx] -= 1
        req = reqs[rid]
        if name != "kede":
            return
        verdict = verdicts[rid]
        key = (s.idx, req.service)
        days = None
        if outcome is Outcome.FILLED:
            days = business_days_elapsed(timers[rid][-1][0], _to_dt(t), s.calendar)
        stats[key] = learned.observe(
            stats.get(key, learned.NO_HISTORY),
            outcome,
            days=days,
            not_held=verdict.not_held and outcome is Outcome.UNFILLED,
            decay=STATS_DECAY,
        )

    def apply(rid: int, step, t: float) -> None:
        nonlocal first_try
        if not step.changed:
            return
        before = states.get(rid)
        states[rid] = step.state
        if before is not None and before.pending is not None:
            closed = step.state.attempts[len(before.attempts) - 1]
            if closed.outcome is not Outcome.PENDING:
                close_attempt(rid, by_code[closed.supplier], closed.outcome, t)
                if closed.outcome is not Outcome.FILLED:
                    waited = t - _from_dt(closed.sent_at)
                    where = spent.setdefault(rid, [0.0, 0.0])
                    where[closed.outcome is Outcome.TIMED_OUT] += waited
        req = reqs[rid]
        if step.send_to:
            if t - req.t > patience:
                # The reader gave up: withdraw the request (the Django layer cancels it).
                results[rid] = ("expired", t, 0.0, -1, 0.0)
                return
            send(rid, step.send_to, t, step.due_at)
        elif step.ended is Status.FILLED:
            s = by_code[step.state.attempts[-1].supplier]
            lent[s.idx] += 1
            borrowed[req.requester] += 1
            filled_by[s.idx] += 1
            if len(step.state.attempts) == 1:
                first_try += 1
            shipping = _shipping(world, req, s)
            home = suppliers[req.requester].calendar
            refusals, silences = spent.get(rid, (0.0, 0.0))
            filling = t - _from_dt(step.state.attempts[-1].sent_at)
            for bucket in (parts, parts_by_service[req.service]):
                bucket["refusals"] += refusals
                bucket["timeouts"] += silences
                bucket["filling"] += filling
                bucket["shipping"] += shipping
            results[rid] = (
                "filled",
                t - req.t + shipping,
                s.price[req.service],
                s.idx,
                business_days_elapsed(_to_dt(req.t), _to_dt(t), home) + shipping,
            )
        elif step.ended is not None:
            results[rid] = (step.ended.value, t, 0.0, -1, 0.0)

    while heap:
        t, _, kind, rid, sidx, attempt_no = heapq.heappop(heap)
        if rid in results:
            continue  # ended (or withdrawn): next_step would ignore these too
        if kind == ARRIVE:
            req = reqs[rid]
            state = RotaState(rota=rota_for(req, t), proxy_search=True)
            states[rid] = state
            apply(rid, next_step(state, Start(_to_dt(t)), world.calendars), t)
            continue
        s = suppliers[sidx]
        state = states[rid]
        if kind == ANSWER:
            verdict = verdicts[rid]
            event = Answered(s.code, verdict.outcome, _to_dt(t), verdict.reason)
        else:
            # At the exact due time: float days would round it a microsecond early.
            sent_at, due = timers[rid][attempt_no]
            event = TimerFired(s.code, sent_at, due)
        step = next_step(state, event, world.calendars)
        if kind == TIMER and step.changed:
            timeouts += 1
        apply(rid, step, t)

    n = len(world.requests)
    filled = [v for v in results.values() if v[0] == "filled"]
    days = sorted(v[1] for v in filled)
    copies = [
        v[1] for rid, v in results.items() if v[0] == "filled" and reqs[rid].service == "copy"
    ]
    loans = [v[1] for rid, v in results.items() if v[0] == "filled" and reqs[rid].service == "loan"]
    member_loads = sorted(filled_by[s.idx] for s in world.members)
    served = {"copy": len(copies), "loan": len(loans)}
    return {
        "fill_rate": round(len(filled) / n, 4),
        "mean_turnaround_days": round(statistics.fmean(days), 3) if days else None,
        "p90_turnaround_days": round(days[min(len(days) - 1, int(0.9 * len(days)))], 3)
        if days
        else None,
        "cost_per_filled": round(sum(v[2] for v in filled) / len(filled), 2) if filled else None,
        "load_gini": round(gini(member_loads), 4),
        "mean_turnaround_copy_days": round(statistics.fmean(copies), 3) if copies else None,
        "mean_turnaround_business_days": round(statistics.fmean(v[4] for v in filled), 3)
        if filled
        else None,
        "requests": n,
        "filled": len(filled),
        "to_proxy_search": sum(1 for v in results.values() if v[0] == "proxy_search"),
        "withdrawn_after_patience": sum(1 for v in results.values() if v[0] == "expired"),
        "attempts_per_request": round(attempts / n, 3),
        "timeouts": timeouts,
        "filled_at_first_try": round(first_try / n, 4),
        "partner_share_of_fills": round(
            sum(1 for v in filled if suppliers[v[3]].kind == PARTNER) / max(1, len(filled)), 4
        ),
        "mean_turnaround_loan_days": round(statistics.fmean(loans), 3) if loans else None,
        "loan_share_of_fills": round(len(loans) / max(1, len(filled)), 4),
        # The mean turnaround split by where the time went (days per filled request; the four
        # add up to mean_turnaround_days), overall and per service type.
        "mean_days_by_part": {k: round(v / max(1, len(filled)), 3) for k, v in parts.items()},
        "mean_days_by_part_per_service": {
            svc: {k: round(v / max(1, served[svc]), 3) for k, v in by.items()}
            for svc, by in parts_by_service.items()
        },
    }


def gini(values: list[int]) -> float:
    """Gini coefficient of non-negative values (0 = all equal, → 1 = one does everything)."""
    ordered = sorted(values)
    total = sum(ordered)
    if not ordered or total == 0:
        return 0.0
    n = len(ordered)
    weighted = sum((i + 1) * v for i, v in enumerate(ordered))
    return (2 * weighted) / (n * total) - (n + 1) / n


def _one(args: tuple[int, int, str, int, float]) -> dict:
    seed, requests, name, max_rota, patience = args
    return simulate_policy(build_world(seed, requests), name, max_rota, patience)


def simulate(
    seed: int = 1,
    requests: int = 40_000,
    max_rota: int = 5,
    patience: float = 14.0,
    jobs: int = 1,
    policies: tuple[str, ...] = POLICIES,
) -> dict:
    """Every policy over the same world. With jobs > 1 the policies run in parallel processes,
    each building the same world from the seed: the figures do not depend on jobs."""
    work = [(seed, requests, name, max_rota, patience) for name in policies]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
            # The slowest (kede) first, so the others share the second core meanwhile.
            order = sorted(range(len(work)), key=lambda i: policies[i] != "kede")
            futures = {i: pool.submit(_one, work[i]) for i in order}
            figures = [futures[i].result() for i in range(len(work))]
    else:
        world = build_world(seed, requests)
        figures = [simulate_policy(world, *w[2:]) for w in work]
    return {"policies": dict(zip(policies, figures, strict=True))}


# --- rank() speed -------------------------------------------------------------------------------


def rank_speed(seed: int, sizes=(20, 35, 50), decisions: int = 3000) -> dict:
    """Decisions/s and latency of eligible() + rank() over realistic candidate lists."""
    rng = random.Random(seed)
    policy = Policy.from_config(KEDE_POLICY)
    regions = [r for r, _ in REGIONS]
    out = {}
    for size in sizes:
        lists = []
        for _ in range(50):
            cands = []
            for i in range(size):
                history = [
                    (
                        rng.choice([Outcome.FILLED, Outcome.UNFILLED, Outcome.TIMED_OUT]),
                        None,
                        False,
                    )
                    for _ in range(rng.randint(0, 30))
                ]
                cands.append(
                    Candidate(
                        supplier=f"S{i}",
                        institution=f"S{i}",
                        region=rng.choice(regions),
                        region_group=rng.choice(["east", "central", "west"]),
                        kind=PARTNER if i >= size - 3 else "member",
                        price=rng.uniform(0, 40),
                        open_requests=rng.randint(0, 60),
                        capacity=rng.randint(0, 60),
                        lent=rng.randint(0, 500),
                        borrowed=rng.randint(0, 500),
                        stats=learned.from_outcomes(history),
                    )
                )
            lists.append(cands)
        facts = RequestFacts(
            requester="R",
            service_type="copy",
            today=datetime.date(YEAR, 3, 4),
            region="E1",
            region_group="east",
            format="article",
        )
        for cands in lists[:5]:  # warm up
            rank(eligible(cands, facts)[0], facts, policy)
        samples = []
        start = time.perf_counter()
        for i in range(decisions):
            cands = lists[i % len(lists)]
            t0 = time.perf_counter()
            kept, _ = eligible(cands, facts)
            rank(kept, facts, policy)
            samples.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - start
        samples.sort()
        out[str(size)] = {
            "decisions_per_s": round(decisions / elapsed),
            "p50_ms": round(samples[len(samples) // 2], 3),
            "p99_ms": round(samples[min(len(samples) - 1, int(0.99 * len(samples)))], 3),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--max-rota", type=int, default=5)
    parser.add_argument("--patience", type=float, default=14.0, help="calendar days")
    parser.add_argument(
        "--jobs", type=int, default=min(3, os.cpu_count() or 1), help="processes (figures same)"
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also run 'informed', a router that knows the hidden parameters, and 'oracle', "
        "one that knows every request's outcome (text output)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    names = POLICIES + (("informed", "oracle") if args.ceiling and not args.json else ())
    result = simulate(args.seed, args.requests, args.max_rota, args.patience, args.jobs, names)
    sim_s = time.perf_counter() - start
    speed = rank_speed(args.seed)
    facts = {
        "seed": args.seed,
        "requests": args.requests,
        "suppliers": sum(t[0] for t in TYPES.values()) + len(PARTNERS),
        "max_rota": args.max_rota,
        "patience_days": args.patience,
        "simulation_s": round(sim_s, 1),
        "machine": f"{os.cpu_count()} cores · Python {platform.python_version()}",
        "rank_target": "≥ 1,000 decisions/s, p99 ≤ 10 ms",
        "rank": speed,
    }
    if args.json:
        print(json.dumps(result))
        print(json.dumps(facts), file=sys.stderr)
        return 0
    print(
        f"{facts['requests']:,} requests over {facts['suppliers']} suppliers "
        f"(seed {args.seed}, rota ≤ {args.max_rota}, patience {args.patience:g} days), "
        f"{facts['simulation_s']} s · {facts['machine']}"
    )
    header = (
        "policy", "fill", "mean d", "p90 d", "copy d", "loan d", "bus. d", "cost", "gini",
        "1st try",
    )  # fmt: skip
    print("{:<22} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8}".format(*header))
    for name, m in result["policies"].items():
        print(
            f"{name:<22} {m['fill_rate']:>7.2%} {m['mean_turnaround_days']:>7.2f} "
            f"{m['p90_turnaround_days']:>7.2f} {m['mean_turnaround_copy_days']:>7.2f} "
            f"{m['mean_turnaround_loan_days']:>7.2f} "
            f"{m['mean_turnaround_business_days']:>7.2f} {m['cost_per_filled']:>7.2f} "
            f"{m['load_gini']:>6.3f} {m['filled_at_first_try']:>8.2%}"
        )
    print("where a filled request's days went (mean; copies | loans):")
    for name, m in result["policies"].items():
        by = m["mean_days_by_part_per_service"]
        print(
            f"  {name:<20} "
            + "  ".join(
                f"{part} {m['mean_days_by_part'][part]:.2f} "
                f"({by['copy'][part]:.2f} | {by['loan'][part]:.2f})"
                for part in ("refusals", "timeouts", "filling", "shipping")
            )
        )
    kede = result["policies"]["kede"]
    print(
        "goal for kede: fill ≥ 97% ({}), mean turnaround ≤ 1.2 calendar days ({}; copies {:.2f}, "
        "loans {:.2f}, of which shipping alone adds {:.2f} to the mean); static cheapest-first "
        "CALIS-like ≈ 85% (here {:.2%})".format(
            "met" if kede["fill_rate"] >= 0.97 else "not met",
            "met" if kede["mean_turnaround_days"] <= 1.2 else "not met",
            kede["mean_turnaround_copy_days"],
            kede["mean_turnaround_loan_days"],
            kede["mean_days_by_part"]["shipping"],
            result["policies"]["static_cheapest_first"]["fill_rate"],
        )
    )
    for size, m in speed.items():
        print(
            f"rank() with {size} candidates: {m['decisions_per_s']:,} decisions/s, "
            f"p50 {m['p50_ms']} ms, p99 {m['p99_ms']} ms (target {facts['rank_target']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
