"""Every write of the routing centre: rotas (computed, edited), policies, learned statistics,
partners, and moving on from suppliers that do not answer in time.

The decisions themselves are the pure core's (`policy.eligible`, `policy.rank`, `rota.Calendar`,
`stats.observe`); this module reads their facts through `kede.routing.selectors` and stores
what they decide.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from kede.accounts.models import User
from kede.consortium.models import ClosedDay, Institution
from kede.core.statemachine import TransitionError
from kede.ill.models import Request, RequestEvent, ServiceType, SupplyRequest, UnfilledReason
from kede.ill.states import SUPPLIER_OPEN
from kede.ill.states import RequesterState as R
from kede.routing import selectors, snapshot
from kede.routing import stats as learned
from kede.routing.models import (
    LastResort,
    RotaEdit,
    RotaPlan,
    RoutingPolicy,
    StatsCursor,
    SupplierLoad,
    SupplierStats,
    SupplyOutcome,
)
from kede.routing.policy import Excluded, Policy, PolicyError, Ranked, RequestFacts, eligible, rank
from kede.routing.rota import Outcome, business_days_elapsed

logger = logging.getLogger("kede.routing")

# Per observation of a supplier: its record spans its last few hundred answers, so a library
# that changed (new staff, a move) is judged by what it does now (see bench/routing_sim.py).
STATS_DECAY = 0.995
# Requester states in which the rota may still be edited: before and during sourcing.
EDITABLE = frozenset({R.SUBMITTED, R.SENT, R.IN_PROCESS, R.CONDITIONAL, R.PROBLEM})
# Supplier-side events that end an attempt; the first one decides its outcome.
FILL_ACTIONS = frozenset({"deliver", "ship"})
END_ACTIONS = FILL_ACTIONS | {"refuse", "expire", "conditions_rejected"}
NOT_HELD_REASONS = frozenset({UnfilledReason.NOT_HELD, UnfilledReason.NOT_ON_SHELF})
# The statistics read the history this far behind now, so that an event whose transaction
# commits a little late is never skipped.
OUTCOME_LAG = datetime.timedelta(minutes=2)


# ---- computing a rota ------------------------------------------------------------------------


@dataclass(frozen=True)
class Computed:
    """One routing decision: who may be asked and in what order, and why."""

    facts: RequestFacts
    policy_id: int | None
    policy_version: int | None
    policy: Policy
    ranked: list[Ranked]
    excluded: list[Excluded]
    proxy: list[int]  # the proxy-search team, appended last
    ids: dict[str, int]  # supplier code -> institution id
    snapshots: dict[str, list]  # supplier code -> the facts it was scored on
    holders: int
    work_id: int | None

    def order(self) -> list[int]:
        return [self.ids[r.supplier] for r in self.ranked] + self.proxy

    def explanations(self) -> dict:
        """The decision as stored with the rota: the facts every ranked candidate was scored
        on (`kede.routing.snapshot`: ranking them again by the same policy version gives back
        each score and reason), the excluded with why, the proxy-search team."""
        codes = {i: c for c, i in self.ids.items()}
        return {
            "policy": (
                {"id": self.policy_id, "version": self.policy_version} if self.policy_id else None
            ),
            "request": snapshot.request_json(self.facts),
            "work": self.work_id,
            "holders": self.holders,
            "ranked": [
                _ranked_json(r, self.ids[r.supplier], self.snapshots.get(r.supplier))
                for r in self.ranked
            ],
            "excluded": [
                {
                    "id": self.ids[e.supplier],
                    "code": e.supplier,
                    "why": e.code,
                    "message": e.message,
                    "params": e.params,
                }
                for e in self.excluded
            ],
            "proxy": [{"id": i, "code": codes.get(i, "")} for i in self.proxy],
        }


def _ranked_json(r: Ranked, institution_id: int, facts: list | None = None) -> dict:
    return {
        "id": institution_id,
        "code": r.supplier,
        "kind": r.tier,
        "score": round(r.score, 4),
        "facts": facts if facts is not None else snapshot.candidate_facts(r.candidate),
    }


def rota_plan_compute(request: Request, *, today: datetime.date | None = None) -> Computed:
    """Rank the candidates for a request (no writes): holders of its work (for an article, of
    its journal), minus the requester and those whose profile excludes the service, the format
    or the requester's type, minus those whose holdings statement lacks the volume or year
    asked for, minus those closed today; then the centre's partners for the service; then the
    proxy-search team."""
    today = today or timezone.localdate()
    work_id = request.work_id
    if work_id is None:
        work = selectors.matching_work(request)
        work_id = work.id if work else None
    cited = selectors.asked_in(request)  # holdings' coverage is read only for a volume or year
    found = selectors.decision_facts(
        work_id=work_id,
        requester_id=request.requester_id,
        service_type=request.service_type,
        today=today,
        coverage=cited is not None,
    )
    supplier_ids = sorted(found.holders) + [p for p in found.partners if p not in found.holders]
    asked = selectors.asked_for(request, found.work_format) if cited is not None else None
    facts = selectors.request_facts(
        request, found.rows[request.requester_id], found.work_format, today, asked
    )
    candidates, snapshots = selectors.build_candidates(
        supplier_ids,
        rows=found.rows,
        partners=found.partners,
        service_type=request.service_type,
        today=today,
        coverage=found.coverage,
        asked=asked,
    )
    kept, excluded = eligible(candidates, facts)
    policy_id, policy = selectors.policy_for(request.service_type, found.policy_key)
    ranked = rank(kept, facts, policy)
    ids = {row["code"]: i for i, row in found.rows.items()}
    in_rota = {ids[r.supplier] for r in ranked}
    proxy = [p for p in found.proxy_team if p != request.requester_id and p not in in_rota]
    return Computed(
        facts=facts,
        policy_id=policy_id,
        policy_version=found.policy_key[1] if found.policy_key else None,
        policy=policy,
        ranked=ranked,
        excluded=excluded,
        proxy=proxy,
        ids=ids,
        snapshots=snapshots,
        holders=len(found.holders),
        work_id=work_id,
    )


def rota_plan_for(request: Request, *, today: datetime.date | None = None) -> RotaPlan:
    """The request's rota: the stored one, else computed now and stored. (A request just
    submitted has none yet: it is computed straight away, and the unique request key settles
    the rare race with another process.)"""
    if request.state != R.SUBMITTED:
        for plan in RotaPlan.objects.filter(request_id=request.pk):
            return plan
    computed = rota_plan_compute(request, today=today)
    try:
        with transaction.atomic():
            return RotaPlan.objects.create(
                request=request,
                suppliers=computed.order(),
                policy_id=computed.policy_id,
                explanations=computed.explanations(),
            )
    except IntegrityError:  # computed at the same moment elsewhere: theirs stands
        return RotaPlan.objects.get(request_id=request.pk)


@transaction.atomic
def rota_edit(
    *,
    actor: User,
    request: Request,
    suppliers: Sequence[int | Institution],
    expected_version: int,
) -> RotaPlan:
    """Borrowing staff of the requesting library reorder, remove or add suppliers (the centre
    may do it for any request, and may add a supplier the rules exclude: an override).
    Suppliers already asked stay where they were; the one asked now finishes its turn."""
    request = Request.objects.select_for_update().select_related("requester").get(pk=request.pk)
    centre = selectors.is_centre(actor)
    if not selectors.may_edit_rota(actor, request):
        raise PermissionDenied(_("Only the requesting library's staff may change this rota."))
    if request.state not in EDITABLE:
        raise ValidationError(
            _("The rota can no longer be changed: the request is %(state)s.")
            % {"state": request.get_state_display()}
        )
    plan = rota_plan_for(request)
    if plan.version != expected_version:
        raise ValidationError(_("Someone else changed this rota first; reload it and try again."))
    wanted: list[int] = []
    for s in suppliers:
        try:
            inst_id = s.id if isinstance(s, Institution) else int(s)
        except (TypeError, ValueError):
            raise ValidationError(_("“%(value)s” is not a library.") % {"value": s}) from None
        if inst_id in wanted:
            raise ValidationError(_("A library appears twice in the rota."))
        wanted.append(inst_id)
    current = [int(i) for i in plan.suppliers]
    added = [i for i in wanted if i not in current]
    explanations = dict(plan.explanations)
    if added:
        explanations = _check_added(request, added, explanations, centre=centre)
    tried = list(request.supplies.order_by("position").values_list("supplier_id", flat=True))
    new_order = [i for i in tried if i in current or i in wanted] + [
        i for i in wanted if i not in tried
    ]
    if new_order == current:
        return plan
    changed = RotaPlan.objects.filter(pk=plan.pk, version=expected_version).update(
        suppliers=new_order,
        explanations=explanations,
        version=F("version") + 1,
        edited_by=actor,
        edited_at=timezone.now(),
        overridden=centre and not _is_borrowing_staff(actor, request),
    )
    if not changed:
        raise ValidationError(_("Someone else changed this rota first; reload it and try again."))
    RotaEdit.objects.create(
        plan=plan,
        version=expected_version + 1,
        before=current,
        after=new_order,
        actor=actor,
        by_centre=centre and not _is_borrowing_staff(actor, request),
    )
    plan.refresh_from_db()
    return plan


def _is_borrowing_staff(actor: User, request: Request) -> bool:
    from kede.accounts.selectors import permitted

    return permitted(actor, "borrowing.manage", request.requester)


def _check_added(request: Request, added: list[int], explanations: dict, *, centre: bool) -> dict:
    """Refuse a supplier that is unknown, inactive, the requester, or excluded by the rules
    (unless the centre overrides); score the others for the page."""
    today = timezone.localdate()
    found = selectors.decision_facts(
        work_id=None,
        requester_id=request.requester_id,
        service_type=request.service_type,
        today=today,
        extra=added,
    )
    rows = found.rows
    for inst_id in added:
        row = rows.get(inst_id)
        if row is None or not row["is_active"]:
            raise ValidationError(_("No active library with id %(id)s.") % {"id": inst_id})
        if inst_id == request.requester_id:
            raise ValidationError(_("A library cannot supply its own reader's request."))
    work = selectors.matching_work(request)
    facts = selectors.request_facts(
        request, rows[request.requester_id], work.format if work else None, today
    )
    candidates, _facts = selectors.build_candidates(
        added,
        rows=rows,
        partners=found.partners,
        service_type=request.service_type,
        today=today,
    )
    kept, excluded = eligible(candidates, facts)
    refused = [e for e in excluded if e.code != "closed"]
    if refused and not centre:
        e = refused[0]
        raise ValidationError(
            _("%(library)s cannot be asked: it %(reason)s.")
            % {"library": e.supplier, "reason": translate_reason(e.message, e.params)}
        )
    everyone = kept + [e.candidate for e in excluded]
    _row, policy = selectors.active_policy(request.service_type)
    ids = {rows[i]["code"]: i for i in added}
    known = {int(r["id"]) for r in explanations.get("ranked", [])}
    ranked = list(explanations.get("ranked", []))
    for r in rank(everyone, facts, policy):
        inst_id = ids[r.supplier]
        if inst_id not in known:
            entry = _ranked_json(r, inst_id)
            entry["added"] = True
            ranked.append(entry)
    explanations["ranked"] = ranked
    explanations["excluded"] = [
        e for e in explanations.get("excluded", []) if int(e["id"]) not in set(added)
    ]
    return explanations


def translate_reason(message: str, params: dict) -> str:
    """A reason from the pure core in the reader's language (English when the translation
    does not fit its parameters)."""
    try:
        return _(message).format(**params)
    except (KeyError, IndexError, ValueError):
        return message.format(**params)


# ---- policies --------------------------------------------------------------------------------


def policy_save(
    *,
    actor: User | None,
    service_type: str,
    config: object,
    note: str = "",
    expected_version: int | None = None,
) -> RoutingPolicy:
    """Save a new version of the centre's policy for a service type; a malformed one (bad
    weights, unknown criteria, …) is refused with the reason and nothing changes. `actor`
    None: the command line."""
    if actor is not None and not selectors.is_centre(actor):
        raise PermissionDenied(_("Only the consortium centre may change routing policies."))
    if service_type not in ServiceType.values:
        raise ValidationError(
            _("Unknown service “%(service)s”; choose one of: %(choices)s.")
            % {"service": service_type, "choices": ", ".join(ServiceType.values)}
        )
    if isinstance(config, str | bytes):
        try:
            config = json.loads(config)
        except ValueError as exc:
            raise ValidationError(
                _("The policy is not valid JSON: %(error)s") % {"error": exc}
            ) from None
    try:
        policy = Policy.from_config(config)
    except PolicyError as exc:
        raise ValidationError(_("The policy was not saved: %(error)s") % {"error": exc}) from None
    try:
        with transaction.atomic():
            current = (
                RoutingPolicy.objects.select_for_update()
                .filter(service_type=service_type, is_active=True)
                .first()
            )
            if expected_version is not None and (current.version if current else 0) != (
                expected_version
            ):
                raise ValidationError(
                    _("Someone else changed this policy first; reload it and try again.")
                )
            last = RoutingPolicy.objects.filter(service_type=service_type).aggregate(
                m=Max("version")
            )["m"]
            RoutingPolicy.objects.filter(service_type=service_type, is_active=True).update(
                is_active=False
            )
            return RoutingPolicy.objects.create(
                service_type=service_type,
                version=(last or 0) + 1,
                config=policy.to_config(),
                note=note[:500],
                edited_by=actor,
            )
    except IntegrityError:
        raise ValidationError(
            _("Someone else changed this policy first; reload it and try again.")
        ) from None


@transaction.atomic
def partners_set(*, service_type: str, institutions: Iterable[Institution]) -> list[LastResort]:
    """The partners and lenders of last resort appended to every rota of a service, in order."""
    if service_type not in ServiceType.values:
        raise ValidationError(_("Unknown service “%(service)s”.") % {"service": service_type})
    LastResort.objects.filter(service_type=service_type).delete()
    return [
        LastResort.objects.create(service_type=service_type, institution=inst, position=n)
        for n, inst in enumerate(institutions, start=1)
    ]


# ---- learned statistics ----------------------------------------------------------------------


def _calendar(supplier_id: int, start: datetime.date, end: datetime.date):
    row = (
        Institution.objects.filter(id=supplier_id)
        .values(
            "id",
            response_days=F("service_profile__response_days"),
            opening_hours=F("service_profile__opening_hours"),
        )
        .get()
    )
    closed = ClosedDay.objects.filter(
        institution_id=supplier_id, date__gte=start, date__lte=end
    ).values_list("date", flat=True)
    return selectors.calendar_from(row, closed)


def outcome_of(supply: SupplyRequest) -> tuple[Outcome, float | None, bool] | None:
    """How the attempt ended, from its first ending event (None: not ended, or cancelled)."""
    event = (
        RequestEvent.objects.filter(supply_id=supply.pk, side="supplier", action__in=END_ACTIONS)
        .order_by("id")
        .values("action", "at")
        .first()
    )
    if event is None:
        return None
    action = event["action"]
    if action in FILL_ACTIONS:
        sent = timezone.localtime(supply.created_at)
        done = timezone.localtime(event["at"])
        calendar = _calendar(supply.supplier_id, sent.date(), done.date())
        return Outcome.FILLED, business_days_elapsed(sent, done, calendar), False
    if action == "expire":
        return Outcome.TIMED_OUT, None, False
    if action == "conditions_rejected":
        return Outcome.REJECTED_CONDITION, None, False
    return Outcome.UNFILLED, None, supply.reason in NOT_HELD_REASONS


def stats_record_outcome(supply: SupplyRequest) -> bool:
    """Fold one ended attempt into its supplier's statistics (and, for a fill, the lend/borrow
    balance of both libraries). Exactly once: False when already recorded or not ended.

    `stats_catch_up` calls it for every attempt that ended, in the order of the history, so
    the statistics equal what `stats_rebuild` learns from the same history."""
    supply = SupplyRequest.objects.select_related("request").get(pk=supply.pk)
    ended = outcome_of(supply)
    if ended is None:
        return False
    outcome, days, not_held = ended
    with transaction.atomic():
        try:
            with transaction.atomic():
                SupplyOutcome.objects.create(
                    supply=supply, outcome=outcome.value, days=days, not_held=not_held
                )
        except IntegrityError:
            return False
        delta = learned.observe(learned.NO_HISTORY, outcome, days=days, not_held=not_held)
        service = supply.request.service_type
        filled = outcome is Outcome.FILLED
        _bump(supply.supplier_id, service, delta, lent=int(filled))
        if filled:
            _bump(supply.request.requester_id, service, None, borrowed=1)
    return True


_COUNTS = ("answered", "filled", "checked", "not_held", "timed_out", "supplied", "turnaround_days")


def _bump(
    institution_id: int,
    service_type: str,
    delta: learned.SupplierStats | None,
    *,
    lent: int = 0,
    borrowed: int = 0,
) -> None:
    SupplierStats.objects.get_or_create(supplier_id=institution_id, service_type=service_type)
    updates: dict[str, object] = {"updated_at": timezone.now()}
    if delta is not None:
        for name in _COUNTS:
            updates[name] = F(name) * STATS_DECAY + getattr(delta, name)
    if lent:
        updates["lent"] = F("lent") + lent
    if borrowed:
        updates["borrowed"] = F("borrowed") + borrowed
    SupplierStats.objects.filter(supplier_id=institution_id, service_type=service_type).update(
        **updates
    )


def stats_catch_up(*, now: datetime.datetime | None = None, batch: int = 5000) -> int:
    """Fold into the statistics the attempts that ended since the last run, reading the
    request history forward from a cursor (by primary key: indexed, never a scan)."""
    horizon = (now or timezone.now()) - OUTCOME_LAG
    recorded = 0
    while True:
        with transaction.atomic():
            StatsCursor.objects.get_or_create(name="outcomes")
            cursor = StatsCursor.objects.select_for_update().get(name="outcomes")
            rows = list(
                RequestEvent.objects.filter(id__gt=cursor.last_event_id)
                .order_by("id")
                .values_list("id", "at", "supply_id", "side", "action")[:batch]
            )
            last = cursor.last_event_id
            supplies: list[int] = []
            for event_id, at, supply_id, side, action in rows:
                if at > horizon:
                    break
                last = event_id
                if side == "supplier" and action in END_ACTIONS and supply_id:
                    supplies.append(supply_id)
            for supply in SupplyRequest.objects.filter(id__in=supplies).order_by("id"):
                recorded += stats_record_outcome(supply)
            if last == cursor.last_event_id:
                return recorded
            StatsCursor.objects.filter(pk=cursor.pk).update(last_event_id=last)
        if len(rows) < batch:
            return recorded


def stats_rebuild() -> int:
    """Forget the learned statistics and learn them again from the whole request history."""
    with transaction.atomic():
        SupplierStats.objects.all().delete()
        SupplyOutcome.objects.all().delete()
        StatsCursor.objects.update_or_create(name="outcomes", defaults={"last_event_id": 0})
    far = timezone.now() + OUTCOME_LAG
    return stats_catch_up(now=far)


# ---- loads -----------------------------------------------------------------------------------


def loads_refresh(*, now: datetime.datetime | None = None) -> int:
    """Count every supplier's open requests (waiting for its answer or being supplied) into
    SupplierLoad: one grouped count over the (supplier, state) index, seeking each
    institution's open states only. Run by the periodic job, so the load criterion reads
    counts at most a minute or two old, by primary key."""
    now = now or timezone.now()
    ids = list(Institution.objects.values_list("id", flat=True))
    counts = dict(
        SupplyRequest.objects.filter(supplier_id__in=ids, state__in=SUPPLIER_OPEN)
        .order_by()
        .values_list("supplier_id")
        .annotate(n=Count("id"))
    )
    SupplierLoad.objects.bulk_create(
        [SupplierLoad(supplier_id=i, open_requests=counts.get(i, 0), counted_at=now) for i in ids],
        update_conflicts=True,
        unique_fields=["supplier"],
        update_fields=["open_requests", "counted_at"],
        batch_size=500,
    )
    return sum(counts.values())


# ---- timers ----------------------------------------------------------------------------------


def supplies_advance_timed_out(*, now: datetime.datetime | None = None) -> int:
    """Move on every request whose current supplier did not answer within its stated
    response time (business days by its calendar). Safe to run twice at once: the second
    finds each supply already moved on and changes nothing. A supplier that vanished (its
    system down) is passed over like any other silent one; one failure never stops the
    others."""
    from kede.ill import services as ill_services

    moved = 0
    for supply in selectors.supplies_past_due(now):
        try:
            if ill_services.supply_time_out(supply=supply):
                moved += 1
        except TransitionError:
            continue  # answered at the same moment: nothing to do
        except Exception:
            logger.exception("could not move request %s on from its supplier", supply.request_id)
    return moved


__all__ = [
    "Computed",
    "loads_refresh",
    "partners_set",
    "policy_save",
    "rota_edit",
    "rota_plan_compute",
    "rota_plan_for",
    "stats_catch_up",
    "stats_rebuild",
    "stats_record_outcome",
    "supplies_advance_timed_out",
]
