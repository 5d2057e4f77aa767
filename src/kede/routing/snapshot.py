"""A rota's explanation, stored compactly. Pure: no Django.

A decision stores, for each ranked candidate, the facts the criteria read (region, price,
load, lend/borrow counts, learned statistics, and for a volume of a serial what the holder's
holdings statement says of it) and, once, the facts of the request; with the
policy version it was ranked by, `explain` ranks the same candidates again and gets back
exactly the scores and reasons of the moment of the decision. That is a fraction of the size
of the reasons themselves (which repeat their templates for every candidate), and far
quicker to write, which is what lets a decision be stored at submission speed.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from kede.routing.policy import MEMBER, Candidate, Policy, Ranked, RequestFacts, rank
from kede.routing.stats import SupplierStats

_STATS = ("answered", "filled", "checked", "not_held", "timed_out", "supplied", "turnaround_days")
_DIGITS = 6  # decayed counts: six decimals keep every score to well under 1e-6


def candidate_facts(c: Candidate) -> list:
    """[region, region group, price, open requests, capacity, lent, borrowed, *stats], then,
    when the holder's serial coverage was checked, [coverage, holdings statement]."""
    s = c.stats
    facts = [
        c.region,
        c.region_group,
        c.price,
        c.open_requests,
        c.capacity,
        c.lent,
        c.borrowed,
        *(round(getattr(s, name), _DIGITS) for name in _STATS),
    ]
    if c.coverage:
        facts += [c.coverage, c.holdings]
    return facts


def candidate_from(supplier: str, kind: str, facts: list) -> Candidate:
    region, group, price, open_requests, capacity, lent, borrowed, *rest = facts
    stats, checked = rest[: len(_STATS)], rest[len(_STATS) :]
    coverage, holdings = checked if len(checked) == 2 else ("", "")
    values = dict(zip(_STATS, (float(v) for v in stats), strict=True))
    # Rounding may leave a count an ulp above the one that bounds it.
    values["filled"] = min(values["filled"], values["answered"])
    values["checked"] = min(values["checked"], values["answered"])
    values["not_held"] = min(values["not_held"], values["checked"])
    values["supplied"] = min(values["supplied"], values["filled"])
    return Candidate(
        supplier=supplier,
        institution=supplier,
        region=region,
        region_group=group,
        kind=kind,
        price=float(price),
        open_requests=int(open_requests),
        capacity=int(capacity),
        lent=int(lent),
        borrowed=int(borrowed),
        stats=SupplierStats(**values),
        coverage=coverage,
        holdings=holdings,
    )


def request_json(r: RequestFacts) -> dict:
    data = {
        "requester": r.requester,
        "service": r.service_type,
        "today": r.today.isoformat(),
        "institution": r.requester_institution,
        "region": r.region,
        "region_group": r.region_group,
        "format": r.format,
        "group": r.requester_group,
    }
    if r.asked:
        data["asked"] = r.asked
    return data


def request_from(data: Mapping) -> RequestFacts:
    return RequestFacts(
        requester=data["requester"],
        service_type=data["service"],
        today=datetime.date.fromisoformat(data["today"]),
        requester_institution=data.get("institution", ""),
        region=data.get("region", ""),
        region_group=data.get("region_group", ""),
        format=data.get("format", ""),
        requester_group=data.get("group", ""),
        asked=data.get("asked", ""),
    )


def explain(request: Mapping, ranked: Iterable[Mapping], policy: Policy) -> dict[str, Ranked]:
    """The ranking of the stored candidates ({"code", "kind", "facts"}), by supplier code."""
    candidates = [
        candidate_from(entry["code"], entry.get("kind", MEMBER), entry["facts"])
        for entry in ranked
        if entry.get("facts") is not None
    ]
    return {r.supplier: r for r in rank(candidates, request_from(request), policy)}
