"""How fast the foundation's journey runs, against the limits measured in the same run.

    .venv/bin/python bench/journey.py [--requests 300] [--searches 500] [--json]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/journey.py

Prints, on the database DATABASE_URL names (default: a fresh SQLite file, the embedded default):
- catalogue load: records/s of the demo loader vs bare pymarc parsing of the same files;
- search: latency percentiles of the simple search over the demo catalogue, and the same for a
  primary-key lookup (the floor for any query through the ORM);
- requests: submit (route included), accept and deliver (PDF checked and stored, mail queued)
  per second, vs bare single-row inserts in their own transactions (the floor for any write).
Nothing here is asserted: machines are shared and noisy; read the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--searches", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("KEDE_INSTANCE_DIR", tempfile.mkdtemp(prefix="kede-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kede.settings")
    os.environ.setdefault("KEDE_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    import pymarc
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection, transaction

    from kede.accounts.models import User
    from kede.catalog.marc import read_marc_file
    from kede.catalog.models import Holding, Work
    from kede.catalog.selectors import works_search
    from kede.conftest import pdf_bytes
    from kede.core.commands_util import default_marc_dir
    from kede.demo import demo_load, marc_files
    from kede.ill import services
    from kede.ill.models import RequestEvent

    if connection.vendor == "postgresql":
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", interactive=False, verbosity=0)
    results: dict[str, object] = {
        "machine": f"{os.cpu_count()} cores · Python {platform.python_version()}",
        "database": connection.vendor,
    }

    # Catalogue load vs bare parsing of the same files.
    files = marc_files(default_marc_dir())
    start = time.perf_counter()
    parsed = 0
    for path in files:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b" or data.lstrip()[:1] == b"<":
            parsed += sum(1 for r in read_marc_file(path) if r.record)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed += sum(1 for r in pymarc.MARCReader(data, permissive=True) if r)
    bare_parse_s = time.perf_counter() - start
    start = time.perf_counter()
    summary = demo_load(marc_dir=default_marc_dir())
    load_s = time.perf_counter() - start
    records = summary.catalogue.read
    results["catalogue_load"] = {
        "records": records,
        "works": Work.objects.count(),
        "holdings": Holding.objects.count(),
        "loader_records_per_s": round(records / load_s, 1),
        "bare_parse_records_per_s": round(parsed / bare_parse_s, 1),
        "ratio_to_bare_parse": round((records / load_s) / (parsed / bare_parse_s), 3),
        "note": "loader time includes building the demo network (people, institutions)",
    }

    # Search latency vs a primary-key lookup.
    rng = random.Random(7)
    words = [w for t in Work.objects.values_list("title", flat=True)[:2000] for w in t.split()]
    words = [w.strip(":;,./()[]").lower() for w in words if len(w) > 3]
    ids = list(Work.objects.values_list("id", flat=True))
    search_ms = [
        timed(lambda: list(works_search(rng.choice(words))[:20])) for _ in range(args.searches)
    ]
    pk_ms = [timed(lambda: Work.objects.get(id=rng.choice(ids))) for _ in range(args.searches)]
    results["search_top20"] = {
        "works": len(ids),
        **percentiles(search_ms),
        "pk_lookup": percentiles(pk_ms),
        "p50_ratio_to_pk_lookup": round(
            percentiles(search_ms)["p50_ms"] / max(percentiles(pk_ms)["p50_ms"], 1e-6), 1
        ),
    }

    # The request journey vs bare single-row inserts.
    reader = User.objects.get(username="reader.usst")
    held = list(
        Holding.objects.exclude(institution__code="USST").values_list("work_id", flat=True)[
            : args.requests
        ]
    )
    works = Work.objects.in_bulk(held)
    pdf = pdf_bytes(pages=4)
    submit_ms, accept_ms, deliver_ms = [], [], []
    for n, work_id in enumerate(held):
        holder_request = None

        def submit(work=works[work_id], n=n):
            nonlocal holder_request
            holder_request = services.request_submit(
                actor=reader,
                citation=services.Citation(title=f"Chapter {n}", container_title=work.title),
                work=work,
            )

        submit_ms.append(timed(submit))
        supply = holder_request.supplies.get()
        staff = User.objects.get(username=f"staff.{supply.supplier.code.lower()}")
        upload = SimpleUploadedFile("c.pdf", pdf, "application/pdf")
        accept_ms.append(timed(lambda s=staff, p=supply: services.supply_accept(actor=s, supply=p)))
        deliver_ms.append(
            timed(
                lambda s=staff, p=supply, u=upload: services.supply_deliver(
                    actor=s, supply=p, upload=u
                )
            )
        )
    request = holder_request

    def bare_insert():
        with transaction.atomic():
            RequestEvent.objects.create(request=request, side="bench", action="x", to_state="x")

    insert_ms = [timed(bare_insert) for _ in range(args.requests)]
    journey = [a + b + c for a, b, c in zip(submit_ms, accept_ms, deliver_ms, strict=True)]
    results["requests"] = {
        "count": len(journey),
        "submit": percentiles(submit_ms),
        "accept": percentiles(accept_ms),
        "deliver": percentiles(deliver_ms),
        "journeys_per_s": round(1000 / statistics.mean(journey), 1),
        "bare_insert_tx_per_s": round(1000 / statistics.mean(insert_ms), 1),
        "journey_cost_in_bare_inserts": round(
            statistics.mean(journey) / statistics.mean(insert_ms), 1
        ),
    }

    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    for key, value in results.items():
        print(f"{key}: {json.dumps(value, ensure_ascii=False)}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
