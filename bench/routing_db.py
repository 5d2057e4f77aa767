"""Routing decisions against a consortium-sized database: are they read from indexes, and fast?

    .venv/bin/python bench/routing_db.py [--works 100000] [--institutions 500] [--decisions 3000]
    .venv/bin/python bench/routing_db.py --full          # 1,000,000 works (the target's size)
    .venv/bin/python bench/routing_db.py --full --pg     # the same in PostgreSQL
        [--pg-url postgres://postgres@127.0.0.1:5432/test] [--keep] [--json]

Builds a fresh database by bulk inserts (a new SQLite file in a throw-away folder, the
embedded default; or, with `--pg`, a schema of its own in the PostgreSQL database named by
`--pg-url`; either is removed at the end unless `--keep`): 8 regions in 3 groups;
institutions of three sizes (7% big research libraries holding much, 22% mid-sized, the rest
small colleges) with service and routing
profiles (prices, capacities, a few excluded formats and library types, stated response
days), six external partners, four partners of last resort per service, a proxy-search team,
about 20 declared closed days per library (2% closed today); the works with a realistic
holdings skew (a popular title is held by dozens of libraries, the long tail by one to three,
big libraries far more often: ~3 holdings per work); one work in ten a journal, whose holdings
carry a holdings statement as the catalogue stores it (spans of volumes and years, a run that
goes on, a few with gaps; 15% with none); learned statistics for every library and service;
30,000 open supply requests spread by library size (the load criterion counts them).

Then it measures routing decisions for requests whose titles are drawn Zipf-like (s = 0.75,
so popular titles with many holders are asked for most), each by one of the libraries (a
request for a journal names a volume and year: its holders are checked against their
statements):
- `decide`: `kede.routing.services.rota_plan_compute` — holders, directory facts, calendars,
  loads, statistics and the policy read from the database, then eligible() + rank();
- `decide+store`: `rota_plan_for` — the same, and the rota with every candidate's explanation
  stored in its own transaction (what submitting a request does);
- the timer's query for supplies past their due time, over all open supplies;
and checks every query of a decision for a full scan of a table that grows (works, holdings,
requests, supply requests). Figures are printed beside the target (≥ 1,000 decisions/s, p99
≤ 10 ms); nothing is asserted.
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import json
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

TARGET = "≥ 1,000 decisions/s, p99 ≤ 10 ms"
GROWING = ("catalog_work", "catalog_holding", "ill_request", "ill_supplyrequest")
REGIONS = [("E1", "east"), ("E2", "east"), ("E3", "east"), ("C1", "central"),
           ("C2", "central"), ("C3", "central"), ("W1", "west"), ("W2", "west")]  # fmt: skip
# size: share of institutions, catalogue weight, borrowing weight, institution type
SIZES = [
    ("research", 0.07, 12.0, 6.0, "research_university"),
    ("mid", 0.22, 3.0, 2.5, "undergraduate_college"),
    ("small", 0.71, 1.0, 1.5, "vocational_college"),
]


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


def setup_django(args) -> str | None:
    """Point Kede at a fresh database; returns the PostgreSQL schema to drop, if any."""
    os.environ["KEDE_INSTANCE_DIR"] = tempfile.mkdtemp(prefix="kede-routing-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kede.settings")
    os.environ.setdefault("KEDE_LOG_LEVEL", "WARNING")
    schema = None
    if args.pg:
        import psycopg

        schema = f"kede_routing_bench_{os.getpid()}"
        with psycopg.connect(_libpq(args.pg_url), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in args.pg_url else "?"
        os.environ["DATABASE_URL"] = f"{args.pg_url}{sep}options=-c%20search_path%3D{schema}"
    else:
        path = Path(os.environ["KEDE_INSTANCE_DIR"]) / "routing-bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    import django

    django.setup()
    return schema


def _libpq(url: str) -> str:
    import dj_database_url

    c = dj_database_url.parse(url)
    return f"host={c['HOST']} port={c['PORT']} user={c['USER']} dbname={c['NAME']}" + (
        f" password={c['PASSWORD']}" if c.get("PASSWORD") else ""
    )


def drop_schema(args, schema: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(args.pg_url), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# ---- bulk loading --------------------------------------------------------------------------


class Loader:
    """Inserts plain rows straight into a model's table (COPY on PostgreSQL), filling every
    column the row does not name with the field's default, so the script follows the models."""

    def __init__(self) -> None:
        from django.db import connection
        from django.utils import timezone

        self.connection = connection
        self.now = timezone.now()

    def insert(self, model, rows, *, with_id: bool = True) -> None:
        from django.db import models

        fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        convert = []
        defaults = []
        for f in fields:
            if isinstance(f, models.JSONField | models.DecimalField):
                convert.append(lambda v, f=f: f.get_db_prep_save(v, self.connection))
            else:
                convert.append(None)
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                defaults.append(self.now)
            elif f.has_default() or not f.null:
                defaults.append(f.get_default())
            else:
                defaults.append(None)
        columns = [f.column for f in fields]
        names = [f.attname for f in fields]
        table = model._meta.db_table
        batch: list[tuple] = []

        def flush() -> None:
            if not batch:
                return
            with self.connection.cursor() as cursor:
                if self.connection.vendor == "postgresql":
                    cols = ", ".join(f'"{c}"' for c in columns)
                    copy_sql = f'COPY "{table}" ({cols}) FROM STDIN'
                    with cursor.cursor.copy(copy_sql) as copy:
                        for row in batch:
                            copy.write_row(row)
                else:
                    marks = ", ".join(["%s"] * len(columns))
                    cols = ", ".join(f'"{c}"' for c in columns)
                    insert = f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'  # noqa: S608
                    cursor.executemany(insert, batch)
            batch.clear()

        for row in rows:
            values = []
            for name, default, conv in zip(names, defaults, convert, strict=True):
                value = row.get(name, default)
                values.append(conv(value) if conv is not None and value is not None else value)
            batch.append(tuple(values))
            if len(batch) >= 20_000:
                flush()
        flush()

    def reset_sequences(self, *models) -> None:
        from django.core.management.color import no_style

        sql = self.connection.ops.sequence_reset_sql(no_style(), list(models))
        with self.connection.cursor() as cursor:
            for statement in sql:
                cursor.execute(statement)


def build(args, rng: random.Random) -> dict:
    from django.db import connection, transaction

    from kede.catalog.models import Holding, Work
    from kede.consortium.models import (
        ClosedDay,
        Consortium,
        Institution,
        InstitutionRole,
        Region,
        ServiceProfile,
    )
    from kede.ill.models import Request, SupplyRequest
    from kede.routing.models import LastResort, SupplierProfile, SupplierStats

    load = Loader()
    from django.utils import timezone

    today = timezone.localdate()
    n_inst, n_works = args.institutions, args.works
    facts: dict = {"institutions": n_inst, "works": n_works}
    start = time.perf_counter()
    with transaction.atomic():
        load.insert(Consortium, [{"id": 1, "code": "bench", "name": "Bench"}])
        load.insert(
            Region,
            [
                {"id": i, "consortium_id": 1, "code": code, "name": code, "group": group}
                for i, (code, group) in enumerate(REGIONS, start=1)
            ],
        )
        sizes, cat_w, bor_w = [], [], []
        institutions = []
        for i in range(1, n_inst + 1):
            u = rng.random()
            size = next(s for s in SIZES if (u := u - s[1]) < 0 or s is SIZES[-1])
            sizes.append(size[0])
            cat_w.append(size[2] * rng.uniform(0.5, 1.5))
            bor_w.append(size[3] * rng.uniform(0.5, 1.5))
            external = i > n_inst - 6
            institutions.append(
                {
                    "id": i,
                    "code": f"I{i:04d}",
                    "name": f"Library {i}",
                    "region_id": rng.randrange(len(REGIONS)) + 1,
                    "type": "national_partner" if external else size[4],
                    "is_active": True,
                }
            )
        load.insert(Institution, institutions)
        load.insert(
            InstitutionRole,
            [
                {"institution_id": i, "role": "external_supplier" if i > n_inst - 6 else "member"}
                for i in range(1, n_inst + 1)
            ],
            with_id=False,
        )
        load.insert(
            ServiceProfile,
            [
                {
                    "institution_id": i,
                    "supplies_copies": True,
                    "lends_books": not (sizes[i - 1] == "small" and rng.random() < 0.15),
                    "proxy_search": i == 1,
                    "response_days": 3 if sizes[i - 1] == "small" else 2,
                    "opening_hours": {},
                }
                for i in range(1, n_inst + 1)
            ],
            with_id=False,
        )
        load.insert(
            SupplierProfile,
            [
                {
                    "institution_id": i,
                    "copy_price": round(rng.uniform(0, 20), 1),
                    "loan_price": round(rng.uniform(0, 30), 1),
                    "capacity": rng.randint(5, 60),
                    "excluded_formats": ["thesis"] if rng.random() < 0.12 else [],
                    "excluded_groups": ["private_college"] if rng.random() < 0.05 else [],
                }
                for i in range(1, n_inst + 1)
            ],
            with_id=False,
        )
        partners = list(range(n_inst - 5, n_inst + 1))
        load.insert(
            LastResort,
            [
                {"service_type": svc, "institution_id": inst, "position": n}
                for svc, chosen in (("copy", partners[:4]), ("loan", partners[4:]))
                for n, inst in enumerate(chosen, start=1)
            ],
            with_id=False,
        )
        closed = set()
        for i in range(1, n_inst + 1):
            if rng.random() < 0.02:
                closed.add((i, today))
            for _ in range(20):
                closed.add((i, today + datetime.timedelta(days=rng.randint(-200, 160))))
        load.insert(
            ClosedDay,
            [{"institution_id": i, "date": d, "reason": ""} for i, d in closed],
            with_id=False,
        )
        facts["closed_days"] = len(closed)

        # The union catalogue: popular titles (low numbers) held widely, the tail thinly.
        load.insert(
            Work,
            (
                {
                    "id": w,
                    "title": f"Work {w}",
                    "format": "serial" if w % 10 == 0 else "book",
                    "issn": f"{w % 10000:04d}-{w % 9999:04d}" if w % 10 == 0 else "",
                }
                for w in range(1, n_works + 1)
            ),
        )
        members = list(range(1, n_inst - 5))
        cum = list(_accumulate(cat_w[m - 1] for m in members))
        total = cum[-1]
        cap = len(members) // 3

        def holders(w: int):
            typical = 1.5 + 70.0 / (1.0 + w / 150.0) ** 0.6
            want = max(1, min(cap, round(typical * math.exp(0.6 * rng.gauss(0, 1)))))
            chosen: dict[int, None] = {}
            for _ in range(want * 4):
                pick = bisect.bisect_right(cum, rng.random() * total)
                chosen[members[min(pick, len(members) - 1)]] = None
                if len(chosen) >= want:
                    break
            return chosen

        count = 0

        # Journals' holdings statements, from a generator of their own so that the rest of the
        # database is the same as without them.
        statements = random.Random(args.seed + 1)
        with_statement = 0

        def holding_rows():
            nonlocal count, with_statement
            for w in range(1, n_works + 1):
                for inst in holders(w):
                    count += 1
                    row = {"work_id": w, "institution_id": inst, "local_id": str(w)}
                    if w % 10 == 0:
                        row["coverage"] = _statement(statements, w)
                        with_statement += bool(row["coverage"])
                    yield row

        load.insert(Holding, holding_rows(), with_id=False)
        facts["holdings"] = count
        facts["journal_holdings_with_a_statement"] = with_statement
        load.insert(
            SupplierStats,
            [_stats_row(rng, i, svc) for i in range(1, n_inst + 1) for svc in ("copy", "loan")],
            with_id=False,
        )
        # Open supply requests (the load criterion counts them per supplier).
        cum_bor = list(_accumulate(bor_w))
        open_rows, supply_rows = [], []
        for n in range(1, args.open_supplies + 1):
            requester = bisect.bisect_right(cum_bor, rng.random() * cum_bor[-1]) + 1
            supplier = members[bisect.bisect_right(cum, rng.random() * total) % len(members)]
            if supplier == requester:
                supplier = members[(supplier) % len(members)]
            open_rows.append(
                {
                    "id": n,
                    "number": f"OPEN{n:08d}",
                    "requester_id": min(requester, n_inst),
                    "service_type": "copy",
                    "state": "sent",
                    "work_id": rng.randint(1, n_works),
                    "title": "Open request",
                }
            )
            supply_rows.append(
                {
                    "id": n,
                    "request_id": n,
                    "supplier_id": supplier,
                    "position": 1,
                    "state": rng.choice(["received", "received", "will_supply"]),
                }
            )
        load.insert(Request, open_rows)
        load.insert(SupplyRequest, supply_rows)
        # The requests to route: titles drawn Zipf-like, by libraries weighted by borrowing.
        first = args.open_supplies + 1
        decision_rows = []
        citations = random.Random(args.seed + 2)
        for n in range(first, first + args.decisions):
            w = min(n_works, 1 + int(n_works * rng.random() ** 4))  # P(w) ~ w^-0.75
            requester = min(
                n_inst - 6, bisect.bisect_right(cum_bor, rng.random() * cum_bor[-1]) + 1
            )
            row = {
                "id": n,
                "number": f"BENCH{n:08d}",
                "requester_id": requester,
                "service_type": "copy" if rng.random() < 0.85 else "loan",
                "state": "submitted",
                "work_id": w,
                "title": f"Chapter of work {w}",
            }
            if w % 10 == 0:  # an article: volume and year of the journal
                volume = citations.randint(1, 60)
                row |= {
                    "title": f"Article in work {w}",
                    "volume": str(volume),
                    "issue": str(citations.randint(1, 12)),
                    "year": str(1965 + volume),
                }
            decision_rows.append(row)
        load.insert(Request, decision_rows)
        load.reset_sequences(
            Consortium, Region, Institution, Work, Holding, Request, SupplyRequest, ClosedDay
        )
    from kede.routing.services import loads_refresh

    loads_refresh()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    facts["build_s"] = round(time.perf_counter() - start, 1)
    facts["decision_request_ids"] = (first, first + args.decisions)
    return facts


def _stats_row(rng: random.Random, inst: int, service: str) -> dict:
    answered = rng.randint(0, 400)
    filled = int(answered * rng.uniform(0.4, 0.98))
    checked = answered - int((answered - filled) * rng.uniform(0, 0.5))
    not_held = int((checked - filled) * rng.uniform(0, 1))
    supplied = filled
    return {
        "supplier_id": inst,
        "service_type": service,
        "answered": answered,
        "filled": filled,
        "checked": checked,
        "not_held": not_held,
        "timed_out": answered - checked,
        "supplied": supplied,
        "turnaround_days": supplied * rng.uniform(0.3, 3.0),
        "lent": filled,
        "borrowed": rng.randint(0, 400),
    }


def _statement(rng: random.Random, work: int) -> list[dict]:
    """A holding's statement as the catalogue stores it (kede.catalog.serials spans as dicts):
    volume n is the year 1965 + n; 15% give none."""
    u = rng.random()
    if u < 0.15:
        return []

    def span(first: int, last: int | None, **extra) -> dict:
        return {
            "start_year": 1965 + first, "start_volume": first, "start_issue": None,
            "end_year": None if last is None else 1965 + last,
            "end_volume": last, "end_issue": None, "open_end": last is None,
            "embargo": [], "incomplete": False, **extra,
        }  # fmt: skip

    first = rng.randint(1, 40)
    if u < 0.45:
        return [span(first, None)]
    last = rng.randint(first, 60)
    if u < 0.55:
        return [span(first, last, incomplete=True)]
    if u < 0.75:
        gap = rng.randint(last, 60)
        return [span(first, last), span(gap, None)]
    return [span(first, last)]


def _accumulate(values):
    total = 0.0
    for v in values:
        total += v
        yield total


# ---- measuring -----------------------------------------------------------------------------


def scans_in_one_decision(request) -> list[str]:
    """Full scans of growing tables among the queries of one decision (EXPLAIN)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kede.routing.services import rota_plan_compute

    with CaptureQueriesContext(connection) as captured:
        rota_plan_compute(request)
    found = []
    with connection.cursor() as cursor:
        for q in captured.captured_queries:
            sql = q["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            if connection.vendor == "postgresql":
                cursor.execute("EXPLAIN " + sql)
                plan = "\n".join(r[0] for r in cursor.fetchall())
                found += [f"Seq Scan on {t}" for t in GROWING if f"Seq Scan on {t}" in plan]
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + sql)
                for row in cursor.fetchall():
                    detail = row[-1]
                    found += [detail for t in GROWING if detail.startswith(f"SCAN {t}")]
    return found, len(captured.captured_queries)


def measure(args, facts: dict) -> dict:
    from django.db import connection, reset_queries

    from kede.ill.models import Request
    from kede.routing import selectors
    from kede.routing.services import loads_refresh, rota_plan_compute, rota_plan_for

    lo, hi = facts.pop("decision_request_ids")
    requests = list(Request.objects.filter(id__gte=lo, id__lt=hi).order_by("id"))
    out: dict = {}
    # warm up: caches of the policy, the connection, the planner
    for r in requests[:50]:
        rota_plan_compute(r)
    sizes = []
    samples = []
    start = time.perf_counter()
    for r in requests:
        t0 = time.perf_counter()
        computed = rota_plan_compute(r)
        samples.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(computed.ranked) + len(computed.excluded))
    elapsed = time.perf_counter() - start
    out["decide"] = {
        "decisions_per_s": round(len(requests) / elapsed),
        **percentiles(samples),
    }
    out["candidates"] = {
        "mean": round(statistics.fmean(sizes), 1),
        "p99": sorted(sizes)[int(0.99 * (len(sizes) - 1))],
        "max": max(sizes),
    }
    articles = [(r, ms) for r, ms in zip(requests, samples, strict=True) if r.volume]
    if articles:
        excluded = sum(
            1
            for r, _ms in articles[:300]
            for e in rota_plan_compute(r).excluded
            if e.code == "coverage"
        )
        out["decide_articles"] = {
            "requests": len(articles),
            **percentiles([ms for _r, ms in articles]),
            "holders_ruled_out_by_statement_per_request": round(
                excluded / min(300, len(articles)), 2
            ),
        }
    samples = []
    start = time.perf_counter()
    for r in requests:
        t0 = time.perf_counter()
        rota_plan_for(r)
        samples.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - start
    out["decide+store"] = {
        "decisions_per_s": round(len(requests) / elapsed),
        **percentiles(samples),
    }
    popular = min(requests, key=lambda r: r.work_id)
    scans, queries = scans_in_one_decision(popular)
    out["queries_per_decision"] = queries
    out["full_scans_of_growing_tables"] = scans
    timer = []
    for _ in range(5):
        t0 = time.perf_counter()
        due = selectors.supplies_past_due(limit=500)
        timer.append((time.perf_counter() - t0) * 1000)
    out["timer_query"] = {"ms": round(min(timer), 1), "due_found": len(due)}
    t0 = time.perf_counter()
    loads_refresh()
    out["loads_refresh_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    reset_queries()
    out["database"] = connection.vendor
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--works", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 works (the target)")
    parser.add_argument("--institutions", type=int, default=500)
    parser.add_argument("--decisions", type=int, default=3000)
    parser.add_argument("--open-supplies", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.full:
        args.works = 1_000_000
    warnings.simplefilter("ignore")
    schema = setup_django(args)
    try:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        facts = build(args, random.Random(args.seed))
        figures = measure(args, facts)
    finally:
        if not args.keep:
            from django.db import connection

            connection.close()
            if schema:
                drop_schema(args, schema)
            # The throw-away instance folder (with the SQLite database: ~100 MB).
            shutil.rmtree(os.environ["KEDE_INSTANCE_DIR"], ignore_errors=True)
    result = {
        **facts,
        **figures,
        "machine": f"{os.cpu_count()} cores · Python {platform.python_version()}",
        "target": TARGET,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['database']}: {facts['works']:,} works, {facts['holdings']:,} holdings, "
        f"{facts['institutions']} institutions, {args.open_supplies:,} open supplies "
        f"(built in {facts['build_s']} s) · {result['machine']}"
    )
    c = figures["candidates"]
    print(f"candidates per request: mean {c['mean']}, p99 {c['p99']}, max {c['max']}")
    for name in ("decide", "decide+store"):
        m = figures[name]
        print(
            f"{name:<13} {m['decisions_per_s']:>6,} decisions/s  p50 {m['p50_ms']} ms  "
            f"p95 {m['p95_ms']} ms  p99 {m['p99_ms']} ms   (target {TARGET})"
        )
    a = figures.get("decide_articles")
    if a:
        print(
            f"  of which {a['requests']} articles of journals (holders checked against their "
            f"statements): p50 {a['p50_ms']} ms  p95 {a['p95_ms']} ms  p99 {a['p99_ms']} ms; "
            f"{a['holders_ruled_out_by_statement_per_request']} holders ruled out per request"
        )
    print(
        f"queries per decision: {figures['queries_per_decision']}; full scans of growing "
        f"tables: {figures['full_scans_of_growing_tables'] or 'none'}"
    )
    print(
        f"timer query (supplies past due among {args.open_supplies:,} open): "
        f"{figures['timer_query']['ms']} ms, {figures['timer_query']['due_found']} due; "
        f"counting every supplier's load: {figures['loads_refresh_ms']} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
