"""Reads for routing: the facts a decision needs, all from indexes, and the plan as staff
read it.

A decision reads, for one request, in one query: the holders of its work (Holding by work),
the partners the centre appends for the service, the proxy-search team and the requester;
for each of them its directory profile, region, routing profile, whether it declared today
closed, whether it is an external supplier, its open requests (`SupplierLoad`, counted by the
periodic job) and its learned statistics for the service; and the active policy's version.
Nothing it reads grows with the number of works, holdings or requests beyond the request's
own holders.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kede.accounts.models import Role
from kede.accounts.permissions import roles_for
from kede.accounts.selectors import AnyUser, has_any_role, institutions_for
from kede.catalog.models import Holding, Work
from kede.consortium.models import ClosedDay, Institution, InstitutionRole, NetworkRole
from kede.ill.models import Request, ServiceType, SupplyRequest
from kede.ill.states import SUPPLIER_OPEN
from kede.ill.states import SupplierState as S
from kede.routing import snapshot
from kede.routing import stats as learned
from kede.routing.coverage import (
    Asked,
    HolderCoverage,
    Statement,
    asked_from,
    holder_coverage,
    statement_from_json,
)
from kede.routing.models import LastResort, RotaPlan, RoutingPolicy, SupplierStats
from kede.routing.policy import (
    MEMBER,
    PARTNER,
    Candidate,
    Policy,
    PolicyError,
    Ranked,
    RequestFacts,
)
from kede.routing.rota import DEFAULT_RESPONSE_DAYS, WEEKDAYS, Calendar

PROXY = "proxy"  # the centre's proxy-search team: appended after members and partners

# The policy in force until the centre saves one: libraries of the requester's region first
# (then of its region group), and among them those that fill sooner (days per fill: fill rate,
# turnaround and silences in one figure, see kede.routing.stats.days_per_fill), with accurate
# holdings, less loaded, cheaper, and net borrowers before net lenders.
DEFAULT_POLICY_CONFIG: dict = {
    "criteria": [
        {"name": "same_region", "weight": 2},
        {"name": "same_region_group", "weight": 1},
        {"name": "days_per_fill", "weight": 5},
        {"name": "holdings_accuracy", "weight": 1},
        {"name": "load", "weight": 1},
        {"name": "price", "weight": 1},
        {"name": "lend_borrow_balance", "weight": 0.5},
    ],
    "price_scale": 20,
    "turnaround_scale": 1,
}
DEFAULT_POLICY = Policy.from_config(DEFAULT_POLICY_CONFIG)

_parsed: dict[tuple[int, int], Policy] = {}


# ---- the request -----------------------------------------------------------------------------


def matching_work(request: Request) -> Work | None:
    """The union catalogue's record the request is for: the work the reader picked, else the
    book by ISBN, else the journal by ISSN (an article's holders are the journal's)."""
    if request.work_id:
        if Request._meta.get_field("work").is_cached(request):
            return request.work
        return Work.objects.only("id", "format").filter(pk=request.work_id).first()
    if request.isbn:
        work = Work.objects.filter(isbn=request.isbn).only("id", "format").first()
        if work:
            return work
    if request.issn:
        return Work.objects.filter(issn=request.issn).only("id", "format").first()
    return None


def active_policy(service_type: str) -> tuple[RoutingPolicy | None, Policy]:
    """The policy in force for a service type (the default when the centre saved none)."""
    row = (
        RoutingPolicy.objects.filter(service_type=service_type, is_active=True)
        .only("id", "version", "config", "service_type")
        .first()
    )
    if row is None:
        return None, DEFAULT_POLICY
    key = (row.id, row.version)
    policy = _parsed.get(key)
    if policy is None:
        try:
            policy = Policy.from_config(row.config)
        except PolicyError:  # stored before a stricter check: fall back rather than stop
            policy = DEFAULT_POLICY
        _parsed[key] = policy
    return row, policy


def policy_history(service_type: str) -> list[RoutingPolicy]:
    return list(
        RoutingPolicy.objects.filter(service_type=service_type)
        .select_related("edited_by")
        .order_by("-version")[:20]
    )


# ---- candidates ------------------------------------------------------------------------------
#
# One decision is one query: the candidates (holders of the work by the (work) index, the
# partners configured for the service, the proxy-search team, the requester itself), each
# joined by primary or unique keys to its institution, region, service profile, routing
# profile, load and statistics for the service, with whether it declared today closed (unique
# (institution, date) index) and whether it is an external supplier (unique (institution,
# role) index); plus the active policy's id and version and the work's format. Written as SQL
# (built from the models' own table and column names) because the ORM's query building alone
# would cost more than the whole decision.

KEYS = (
    "src", "pos", "id", "code", "type", "is_active", "region", "region_group",
    "supplies_copies", "lends_books", "response_days", "opening_hours",
    "copy_price", "loan_price", "capacity", "excluded_formats", "excluded_groups",
    "closed_today", "external", "open_requests",
    "st_answered", "st_filled", "st_checked", "st_not_held", "st_timed_out", "st_supplied",
    "st_turnaround_days", "st_lent", "st_borrowed", "policy_id", "policy_version", "work_format",
    "coverage",
)  # fmt: skip
HOLDER, PARTNER_SRC, PROXY_SRC, REQUESTER_SRC, EXTRA_SRC = range(5)


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _c(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _decision_sql(extra: int, coverage: bool) -> str:
    from kede.consortium.models import Region, ServiceProfile
    from kede.routing.models import SupplierLoad, SupplierProfile

    inst, hold, last, sp = Institution, Holding, LastResort, ServiceProfile
    st, rp, ld, pol = SupplierStats, SupplierProfile, SupplierLoad, RoutingPolicy
    extra_ids = ", ".join(["%s"] * extra)
    held = _c(hold, "coverage") if coverage else "NULL"
    extra_sql = (
        f"UNION ALL SELECT {_c(inst, 'id')}, {EXTRA_SRC}, 0, NULL FROM {_t(inst)} "  # noqa: S608 — names from the models, values bound
        f"WHERE {_c(inst, 'id')} IN ({extra_ids})"
        if extra
        else ""
    )
    stats = ", ".join(
        f"st.{_c(st, name)}"
        for name in ("answered", "filled", "checked", "not_held", "timed_out", "supplied",
                     "turnaround_days", "lent", "borrowed")
    )  # fmt: skip
    return f"""
SELECT c.src, c.pos, i.{_c(inst, "id")}, i.{_c(inst, "code")}, i.{_c(inst, "type")},
  i.{_c(inst, "is_active")}, r.{_c(Region, "code")}, r.{_c(Region, "group")},
  sp.{_c(sp, "supplies_copies")}, sp.{_c(sp, "lends_books")}, sp.{_c(sp, "response_days")},
  sp.{_c(sp, "opening_hours")},
  rp.{_c(rp, "copy_price")}, rp.{_c(rp, "loan_price")}, rp.{_c(rp, "capacity")},
  rp.{_c(rp, "excluded_formats")}, rp.{_c(rp, "excluded_groups")},
  EXISTS(SELECT 1 FROM {_t(ClosedDay)} cd WHERE cd.{_c(ClosedDay, "institution")} = c.id
         AND cd.{_c(ClosedDay, "date")} = %s),
  EXISTS(SELECT 1 FROM {_t(InstitutionRole)} ir
         WHERE ir.{_c(InstitutionRole, "institution")} = c.id
         AND ir.{_c(InstitutionRole, "role")} = %s),
  ld.{_c(ld, "open_requests")},
  {stats},
  (SELECT {_c(pol, "id")} FROM {_t(pol)} WHERE {_c(pol, "service_type")} = %s
   AND {_c(pol, "is_active")} = %s),
  (SELECT {_c(pol, "version")} FROM {_t(pol)} WHERE {_c(pol, "service_type")} = %s
   AND {_c(pol, "is_active")} = %s),
  (SELECT {_c(Work, "format")} FROM {_t(Work)} WHERE {_c(Work, "id")} = %s),
  c.coverage
FROM (
  SELECT {_c(hold, "institution")} AS id, {HOLDER} AS src, 0 AS pos,
    {held} AS coverage FROM {_t(hold)}
    WHERE {_c(hold, "work")} = %s
  UNION ALL SELECT {_c(last, "institution")}, {PARTNER_SRC}, {_c(last, "position")}, NULL
    FROM {_t(last)} WHERE {_c(last, "service_type")} = %s
  UNION ALL SELECT {_c(sp, "institution")}, {PROXY_SRC}, 0, NULL FROM {_t(sp)}
    WHERE {_c(sp, "proxy_search")} = %s
  UNION ALL SELECT {_c(inst, "id")}, {REQUESTER_SRC}, 0, NULL FROM {_t(inst)}
    WHERE {_c(inst, "id")} = %s
  {extra_sql}
) c
JOIN {_t(inst)} i ON i.{_c(inst, "id")} = c.id
JOIN {_t(Region)} r ON r.{_c(Region, "id")} = i.{_c(inst, "region")}
LEFT JOIN {_t(sp)} sp ON sp.{_c(sp, "institution")} = c.id
LEFT JOIN {_t(rp)} rp ON rp.{_c(rp, "institution")} = c.id
LEFT JOIN {_t(ld)} ld ON ld.{_c(ld, "supplier")} = c.id
LEFT JOIN {_t(st)} st ON st.{_c(st, "supplier")} = c.id AND st.{_c(st, "service_type")} = %s
"""  # noqa: S608 — table and column names come from the models; every value is bound


_sql_cache: dict[tuple[str, int, bool], str] = {}


@dataclass(frozen=True)
class DecisionFacts:
    rows: dict[int, dict]  # institution id -> everything routing reads about it
    holders: frozenset[int]
    partners: tuple[int, ...]  # in the centre's order
    proxy_team: tuple[int, ...]
    policy_key: tuple[int, int] | None  # (id, version) of the active policy
    work_format: str | None
    # Each holder's serial coverage as stored, one entry per holding of the work.
    coverage: dict[int, list] = field(default_factory=dict)


def decision_facts(
    *,
    work_id: int | None,
    requester_id: int,
    service_type: str,
    today: datetime.date,
    extra: Sequence[int] = (),
    coverage: bool = False,
) -> DecisionFacts:
    """Everything one routing decision reads, in one query (see above). `extra`: more
    institutions to read the same facts of (a supplier staff add to a rota). `coverage`: also
    each holding's serial coverage (for a request that names a volume or year)."""
    key = (connection.vendor, len(extra), coverage)
    sql = _sql_cache.get(key)
    if sql is None:
        sql = _sql_cache[key] = _decision_sql(len(extra), coverage)
    params = [
        today, NetworkRole.EXTERNAL_SUPPLIER.value,
        service_type, True, service_type, True, work_id or 0,
        work_id or 0, service_type, True, requester_id, *extra, service_type,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    rows: dict[int, dict] = {}
    holders: set[int] = set()
    partners: list[tuple[int, int]] = []
    team: list[int] = []
    policy_key = None
    work_format = None
    coverage: dict[int, list] = {}
    for values in fetched:
        row = dict(zip(KEYS, values, strict=True))
        row["_key"] = values[2:29]  # the supplier's own facts: see candidate_from
        inst_id = row["id"]
        rows.setdefault(inst_id, row)
        src = row["src"]
        if src == HOLDER:
            holders.add(inst_id)
            if row["coverage"] is not None:
                coverage.setdefault(inst_id, []).append(row["coverage"])
        elif src == PARTNER_SRC:
            partners.append((row["pos"], inst_id))
        elif src == PROXY_SRC and row["is_active"]:
            team.append(inst_id)
        if row["policy_id"] is not None:
            policy_key = (row["policy_id"], row["policy_version"])
        work_format = row["work_format"]
    return DecisionFacts(
        rows=rows,
        holders=frozenset(holders),
        partners=tuple(i for _pos, i in sorted(partners)),
        proxy_team=tuple(sorted(team)),
        policy_key=policy_key,
        work_format=work_format,
        coverage=coverage,
    )


def policy_for(service_type: str, key: tuple[int, int] | None) -> tuple[int | None, Policy]:
    """The parsed policy named by (id, version), read once per process and version."""
    if key is None:
        return None, DEFAULT_POLICY
    policy = _parsed.get(key)
    if policy is None:
        row, policy = active_policy(service_type)
        if row is None or (row.id, row.version) != key:  # changed meanwhile: use what is now
            return (row.id if row else None), policy
    return key[0], policy


# Candidates are rebuilt for every decision from plain values; the parts that are the same
# for many suppliers (calendars, exclusion sets, learned statistics) are built once.
_calendars: dict[tuple, Calendar] = {}
_sets: dict[object, frozenset[str]] = {}
_learned: dict[tuple, learned.SupplierStats] = {}
_json: dict[str, object] = {}
_CACHE_LIMIT = 50_000


def _loads(value: object) -> object:
    if not isinstance(value, str):
        return value
    got = _json.get(value)
    if got is None:
        if len(_json) > _CACHE_LIMIT:
            _json.clear()
        got = _json[value] = json.loads(value)
    return got


def _frozen(value: object) -> frozenset[str]:
    key = value if isinstance(value, str) or value is None else json.dumps(value)
    got = _sets.get(key)
    if got is None:
        items = _loads(value) or ()
        got = _sets[key] = frozenset(str(v) for v in items)
    return got


def calendar_from(row: dict, closed: Iterable[datetime.date] = ()) -> Calendar:
    """A supplier's calendar: its service hours' weekdays (Monday to Friday when it states
    none), the given declared closed days, and its stated response days."""
    closed = frozenset(closed)
    hours = row.get("opening_hours")
    key = (
        hours if isinstance(hours, str) or hours is None else json.dumps(hours, sort_keys=True),
        row.get("response_days"),
        closed,
    )
    got = _calendars.get(key)
    if got is not None:
        return got
    spans = _loads(hours) or {}
    open_days = frozenset(
        int(d) for d, s in spans.items() if s and str(d).isdigit() and 0 <= int(d) <= 6
    )
    days = row.get("response_days") or DEFAULT_RESPONSE_DAYS
    got = Calendar(open_weekdays=open_days or WEEKDAYS, closed_dates=closed, response_days=days)
    if len(_calendars) > _CACHE_LIMIT:
        _calendars.clear()
    _calendars[key] = got
    return got


def _stats_from(row: dict) -> learned.SupplierStats:
    if row["st_answered"] is None:
        return learned.NO_HISTORY
    answered, filled, checked, not_held, timed_out, supplied, days = (
        float(row["st_answered"]),
        float(row["st_filled"]),
        float(row["st_checked"]),
        float(row["st_not_held"]),
        float(row["st_timed_out"]),
        float(row["st_supplied"]),
        float(row["st_turnaround_days"]),
    )
    key = (answered, filled, checked, not_held, timed_out, supplied, days)
    got = _learned.get(key)
    if got is None:
        filled = min(filled, answered)
        checked = min(checked, answered)
        got = learned.SupplierStats(
            answered=answered,
            filled=filled,
            checked=checked,
            not_held=min(not_held, checked),
            timed_out=timed_out,
            supplied=min(supplied, filled),
            turnaround_days=days,
        )
        if len(_learned) > _CACHE_LIMIT:
            _learned.clear()
        _learned[key] = got
    return got


_SERVICES = {
    (True, True): frozenset({"copy", "loan"}),
    (True, False): frozenset({"copy"}),
    (False, True): frozenset({"loan"}),
    (False, False): frozenset(),
}


# (facts) -> (Candidate, its facts as a rota's explanation stores them)
_candidates: dict[tuple, tuple[Candidate, list]] = {}


def candidate_from(
    row: dict,
    *,
    kind: str,
    service_type: str,
    today: datetime.date,
    held: HolderCoverage | None = None,
) -> tuple[Candidate, list]:
    """The supplier as the pure core sees it, and its facts as a rota's explanation stores
    them (`kede.routing.snapshot`). The same facts give the same (immutable) Candidate, so a
    busy supplier's is built once, not at every decision. `held`: what its holdings statement
    says of the volume asked for, if that was checked."""
    key = row.get("_key")
    if key is not None:
        key = (key, kind, service_type, today, held)
        got = _candidates.get(key)
        if got is not None:
            return got
    candidate = _candidate(row, kind=kind, service_type=service_type, today=today, held=held)
    got = (candidate, snapshot.candidate_facts(candidate))
    if key is not None:
        if len(_candidates) > _CACHE_LIMIT:
            _candidates.clear()
        _candidates[key] = got
    return got


def _candidate(
    row: dict,
    *,
    kind: str,
    service_type: str,
    today: datetime.date,
    held: HolderCoverage | None = None,
) -> Candidate:
    copies = row["supplies_copies"] is None or bool(row["supplies_copies"])
    loans = row["lends_books"] is None or bool(row["lends_books"])
    price = row["copy_price"] if service_type == ServiceType.COPY else row["loan_price"]
    return Candidate(
        supplier=row["code"],
        institution=row["code"],
        region=row["region"] or "",
        region_group=row["region_group"] or "",
        kind=kind,
        services=_SERVICES[copies, loans],
        excluded_formats=_frozen(row["excluded_formats"]),
        excluded_groups=_frozen(row["excluded_groups"]),
        calendar=calendar_from(row, (today,) if row["closed_today"] else ()),
        price=float(price or 0),
        open_requests=int(row["open_requests"] or 0),
        capacity=int(row["capacity"] or 0),
        lent=int(row["st_lent"] or 0),
        borrowed=int(row["st_borrowed"] or 0),
        stats=_stats_from(row),
        coverage=held.state if held else "",
        holdings=held.holdings if held else "",
    )


def request_facts(
    request: Request,
    requester: dict,
    work_format: str | None,
    today: datetime.date,
    asked: Asked | None = None,
) -> RequestFacts:
    return RequestFacts(
        requester=requester["code"],
        service_type=request.service_type,
        today=today,
        requester_institution=requester["code"],
        region=requester["region"] or "",
        region_group=requester["region_group"] or "",
        format=work_format or "",
        requester_group=requester["type"] or "",
        asked=str(asked) if asked else "",
    )


# ---- serial coverage -------------------------------------------------------------------------

SERIAL = "serial"
_coverage_answers: dict[tuple, HolderCoverage] = {}
_statements: dict[str, Statement] = {}


def asked_in(request: Request) -> Asked | None:
    """The volume or year the citation names, if one can be read (whatever the work)."""
    if not (request.volume or request.year):
        return None
    return asked_from(volume=request.volume, issue=request.issue, year=request.year)


def asked_for(request: Request, work_format: str | None) -> Asked | None:
    """The volume or year of a serial the request is for (an article of a journal), or None:
    the work is not a serial, or the citation names no volume or year that can be read. Then
    holders are not checked against their holdings statements."""
    if work_format != SERIAL and not request.issn:
        return None
    return asked_in(request)


def coverage_of(statements: Sequence[object], asked: Asked, today: datetime.date) -> HolderCoverage:
    """A holder's answer (`kede.routing.coverage.holder_coverage`): each statement is read
    once per process, and the answer computed once per statements, request and day (a
    popular journal's holders are checked at every decision for it)."""
    texts = tuple(s if isinstance(s, str) else json.dumps(s, sort_keys=True) for s in statements)
    key = (texts, asked, today)
    got = _coverage_answers.get(key)
    if got is None:
        read = []
        for text in texts:
            statement = _statements.get(text)
            if statement is None:
                if len(_statements) > _CACHE_LIMIT:
                    _statements.clear()
                statement = _statements[text] = statement_from_json(text)
            read.append(statement)
        got = holder_coverage(read, asked, today)
        if len(_coverage_answers) > _CACHE_LIMIT:
            _coverage_answers.clear()
        _coverage_answers[key] = got
    return got


def build_candidates(
    ids: Sequence[int],
    *,
    rows: dict[int, dict],
    partners: Iterable[int],
    service_type: str,
    today: datetime.date,
    coverage: dict[int, list] | None = None,
    asked: Asked | None = None,
) -> tuple[list[Candidate], dict[str, list]]:
    """The active institutions among `ids` as candidates, and each one's facts for the
    explanation, by supplier code. With `asked` (a volume or year of a serial), each holder
    (by `coverage`: its holdings' statements) is checked against it; the centre's partners are
    asked whatever they hold, and are not."""
    partner_set = set(partners)
    out = []
    facts = {}
    for i in ids:
        row = rows.get(i)
        if row is None or not row["is_active"]:
            continue
        kind = PARTNER if (row["external"] or i in partner_set) else MEMBER
        statements = coverage.get(i) if asked is not None and coverage else None
        held = None
        if statements is not None and i not in partner_set:
            held = coverage_of(statements, asked, today)
        candidate, facts[row["code"]] = candidate_from(
            row, kind=kind, service_type=service_type, today=today, held=held
        )
        out.append(candidate)
    return out, facts


# ---- the plan at the time of asking ----------------------------------------------------------


def plan_institutions(plan: RotaPlan, today: datetime.date) -> list[Institution]:
    """The rota's institutions to ask, in order: active ones only; a supplier that declared
    today closed waits behind the others of its tier (it is asked later, or today only when
    nobody else is left); the proxy-search team stays last."""
    ids = [int(i) for i in plan.suppliers]
    if not ids:
        return []
    proxies = {int(p["id"]) for p in plan.explanations.get("proxy", [])}
    insts = {
        i.id: i
        for i in Institution.objects.filter(id__in=ids, is_active=True)
        .select_related("region", "service_profile")
        .annotate(
            closed_today=Exists(ClosedDay.objects.filter(institution=OuterRef("pk"), date=today))
        )
    }
    ordered = [insts[i] for i in ids if i in insts]
    suppliers = [i for i in ordered if i.id not in proxies]
    team = [i for i in ordered if i.id in proxies]
    suppliers = [i for i in suppliers if not i.closed_today] + [
        i for i in suppliers if i.closed_today
    ]
    return suppliers + team


# ---- timers ----------------------------------------------------------------------------------

TIMER_WINDOW_DAYS = 120  # closed days looked at behind today; a calendar closed longer is due


def _last_due_sent_day(calendar: Calendar, today: datetime.date) -> datetime.date:
    """The last day on which a request could be sent and already be due at today's start
    or later today (due_at is the midnight after the n-th open day after sending)."""
    day = today - datetime.timedelta(days=1)
    floor = today - datetime.timedelta(days=TIMER_WINDOW_DAYS)
    while day > floor and calendar.business_day_after(day, calendar.response_days) >= today:
        day -= datetime.timedelta(days=1)
    return day


def supplies_past_due(
    now: datetime.datetime | None = None, limit: int = 500
) -> list[SupplyRequest]:
    """Supplies still unanswered (state "received") past their supplier's response time:
    sent + response_days open days by the supplier's calendar (weekly closed days from its
    service hours, declared closed days). Suppliers are grouped by the last sending day that
    is due now, and each group is one query on SupplyRequest's (supplier, state) index."""
    now = now or timezone.now()
    local_now = timezone.localtime(now)
    today = local_now.date()
    floor = today - datetime.timedelta(days=TIMER_WINDOW_DAYS)
    closed: dict[int, set[datetime.date]] = {}
    for inst_id, day in ClosedDay.objects.filter(date__gt=floor, date__lte=today).values_list(
        "institution_id", "date"
    ):
        closed.setdefault(inst_id, set()).add(day)
    rows = Institution.objects.values(
        "id", response_days=F("service_profile__response_days"),
        opening_hours=F("service_profile__opening_hours"),
    )  # fmt: skip
    calendars: dict[int, Calendar] = {}
    groups: dict[datetime.date, list[int]] = {}
    for row in rows:
        calendar = calendar_from(row, closed.get(row["id"], ()))
        calendars[row["id"]] = calendar
        groups.setdefault(_last_due_sent_day(calendar, today), []).append(row["id"])
    tz = timezone.get_current_timezone()
    due: list[SupplyRequest] = []
    for last_day, ids in sorted(groups.items()):
        cutoff = datetime.datetime.combine(
            last_day + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
        )
        found = (
            SupplyRequest.objects.filter(
                supplier_id__in=ids, state=S.RECEIVED, created_at__lt=cutoff
            )
            .select_related("request", "supplier")
            .order_by("created_at", "id")[:limit]
        )
        for supply in found:
            sent = timezone.localtime(supply.created_at)
            if calendars[supply.supplier_id].due_at(sent) <= local_now:
                due.append(supply)
    due.sort(key=lambda s: (s.created_at, s.id))
    return due[:limit]


def due_at(supply: SupplyRequest) -> datetime.datetime:
    """When this supply times out, by its supplier's calendar."""
    sent = timezone.localtime(supply.created_at)
    row = (
        Institution.objects.filter(id=supply.supplier_id)
        .values(
            "id",
            response_days=F("service_profile__response_days"),
            opening_hours=F("service_profile__opening_hours"),
        )
        .get()
    )
    closed = ClosedDay.objects.filter(
        institution_id=supply.supplier_id,
        date__gte=sent.date(),
        date__lte=sent.date() + datetime.timedelta(days=TIMER_WINDOW_DAYS),
    ).values_list("date", flat=True)
    return calendar_from(row, closed).due_at(sent)


# ---- who may see and edit a rota -------------------------------------------------------------


def is_centre(user: AnyUser) -> bool:
    return has_any_role(user, *roles_for("consortium.admin"))


def may_edit_rota(user: AnyUser, request: Request) -> bool:
    from kede.accounts.selectors import permitted

    return permitted(user, "borrowing.manage", request.requester) or is_centre(user)


def access_request_for_rota(user: AnyUser, request_id: int) -> Request:
    """A request whose rota the caller may see: its own library's borrowing staff, or the
    centre. 'Missing' and 'not yours' look the same."""
    qs = Request.objects.select_related("requester", "requester__region", "reader")
    if is_centre(user):
        return qs.get(id=request_id)
    return qs.filter(requester__in=institutions_for(user, "borrowing.view")).get(id=request_id)


def request_by_number(number: str) -> Request:
    return Request.objects.select_related("requester").get(number=number)


def institutions_by_id(ids: Iterable[int]) -> dict[int, Institution]:
    return {i.id: i for i in Institution.objects.filter(id__in=list(ids)).select_related("region")}


def addable_institutions(request: Request, plan: RotaPlan) -> list[Institution]:
    """Active institutions not in the rota that the borrowing staff may add (checked again
    on saving)."""
    return list(
        Institution.objects.filter(is_active=True)
        .exclude(Q(id__in=[int(i) for i in plan.suppliers]) | Q(id=request.requester_id))
        .select_related("region")
        .order_by("region__code", "code")
    )


def centre_roles() -> frozenset[Role]:
    return roles_for("consortium.admin")


def no_candidate_message(plan: RotaPlan) -> str:
    """Why a plan has no supplier at all (shown at once on the request page)."""
    if plan.explanations.get("holders", 0) == 0:
        return _("No library in the union catalogue holds it.")
    return _("No library that holds it can supply it.")


# ---- the plan as staff read it ---------------------------------------------------------------


@dataclass
class CriterionRow:
    label: str
    share: float
    value: float
    points: float
    reason: str


@dataclass
class PlanRow:
    institution: Institution
    position: int
    kind: str
    score: float | None
    criteria: list[CriterionRow]
    supply: SupplyRequest | None  # when it was asked
    current: bool  # asked now, waiting for its answer
    added: bool  # added by staff after the ranking


@dataclass
class ExcludedRow:
    institution: Institution | None
    code: str
    why: str
    reason: str


@dataclass
class PlanView:
    plan: RotaPlan
    rows: list[PlanRow]
    excluded: list[ExcludedRow]
    policy_version: int | None
    holders: int


def plan_explanations(plan: RotaPlan) -> dict[str, Ranked]:
    """Each ranked candidate's score and reasons, as at the decision: its stored facts ranked
    again by the policy version the decision used."""
    data = plan.explanations or {}
    if not data.get("ranked") or "request" not in data:
        return {}
    version = data.get("policy") or {}
    policy = DEFAULT_POLICY
    if version:
        row = RoutingPolicy.objects.filter(pk=version.get("id")).only("config").first()
        if row is not None:
            with contextlib.suppress(PolicyError):
                policy = Policy.from_config(row.config)
    return snapshot.explain(data["request"], data["ranked"], policy)


def plan_view(request: Request, plan: RotaPlan) -> PlanView:
    from kede.routing.messages import CRITERIA
    from kede.routing.services import translate_reason

    data = plan.explanations or {}
    ranked = {int(r["id"]): r for r in data.get("ranked", [])}
    explained = plan_explanations(plan)
    proxies = {int(p["id"]) for p in data.get("proxy", [])}
    excluded_raw = data.get("excluded", [])
    ids = [int(i) for i in plan.suppliers]
    insts = institutions_by_id({*ids, *(int(e["id"]) for e in excluded_raw)})
    supplies = {
        s.supplier_id: s for s in request.supplies.select_related("supplier").order_by("position")
    }
    current = max(supplies.values(), key=lambda s: s.position, default=None)
    rows = []
    for n, inst_id in enumerate(ids, start=1):
        inst = insts.get(inst_id)
        if inst is None:
            continue
        entry = ranked.get(inst_id)
        criteria = []
        why = explained.get(entry["code"]) if entry else None
        if why is not None:
            for s in why.breakdown:
                criteria.append(
                    CriterionRow(
                        label=str(CRITERIA.get(s.criterion, s.criterion)),
                        share=s.weight,
                        value=s.value,
                        points=s.points,
                        reason=translate_reason(s.message, dict(s.params)),
                    )
                )
        supply = supplies.get(inst_id)
        rows.append(
            PlanRow(
                institution=inst,
                position=n,
                kind=PROXY if inst_id in proxies else (entry["kind"] if entry else MEMBER),
                score=entry["score"] if entry else None,
                criteria=criteria,
                supply=supply,
                current=supply is not None and supply == current and supply.state in SUPPLIER_OPEN,
                added=bool(entry and entry.get("added")),
            )
        )
    excluded = [
        ExcludedRow(
            institution=insts.get(int(e["id"])),
            code=e["code"],
            why=e["why"],
            reason=translate_reason(e["message"], e["params"]),
        )
        for e in excluded_raw
    ]
    policy = data.get("policy") or {}
    return PlanView(
        plan=plan,
        rows=rows,
        excluded=excluded,
        policy_version=policy.get("version"),
        holders=int(data.get("holders", 0)),
    )


def plan_has_no_candidate(plan: RotaPlan) -> bool:
    """No library could be ranked for it (no holder, or none may be asked)."""
    return not (plan.explanations or {}).get("ranked")


def proxy_team_of(plan: RotaPlan) -> list[Institution]:
    ids = [int(p["id"]) for p in (plan.explanations or {}).get("proxy", [])]
    insts = institutions_by_id(ids)
    return [insts[i] for i in ids if i in insts]
