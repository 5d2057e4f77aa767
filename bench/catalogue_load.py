"""How fast members' catalogues load into the union catalogue (the database side), and how fast
search answers afterwards.

    .venv/bin/python bench/catalogue_load.py [--max-files N] [--queries 500] [--profile]
    .venv/bin/python bench/catalogue_load.py --pg [--pg-url postgres://postgres@127.0.0.1:5432/test]
        [--keep] [--json] [CORPUS]

CORPUS defaults to ../shared/data/marc beside the repository, else the Library of Congress set
bundled in src/kede/demo_data. Every ISO 2709 and MARCXML file in it (gzipped or not; files
that cannot be read are skipped) is read into memory first. Three member libraries load them,
each file by two of the three (file k by libraries k mod 3 and k+1 mod 3), so two thirds of
every library's records are also another library's: the second and third loads merge into
works the first created.

It builds a fresh database (a new SQLite file and Tantivy index, the embedded default; or with
`--pg` a schema of its own in the PostgreSQL database at `--pg-url`, dropped at the end unless
`--keep`), then measures, one core:

- bare: pymarc parsing of the same files (MARCReader, permissive, for ISO 2709;
  parse_xml_to_array for MARCXML): records/s;
- pipeline: kede.catalog.ingest over the same bytes, no database: records/s;
- load: `catalogue_load` per library and file, the whole database path (records and match
  keys, matching and merging into works, holdings, work refresh, the search index: Tantivy
  written once per library as `kede catalog load FILE...` does, PostgreSQL's in every
  batch's transaction): records/s overall and per library, the ratio to bare parsing, and
  SQL queries per record of the second library's biggest file;
- search: `works_search` (the search page's path: engine, then the works from the database)
  for one-word, two-word and ISBN queries drawn from the loaded works: p50/p95/p99 in ms.

`--profile` runs the second library's load under cProfile and prints the functions that take
the most time. Figures are printed; nothing is asserted (machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gzip
import io
import json
import os
import platform
import pstats
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED_CORPUS = ROOT.parent / "shared" / "data" / "marc"
BUNDLED = ROOT / "src" / "kede" / "demo_data"
LIBRARIES = ("LIBA", "LIBB", "LIBC")


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


# ---- the corpus -----------------------------------------------------------------------------


def read_corpus(corpus: Path, max_files: int | None) -> list[tuple[str, str, bytes]]:
    """(name, format, bytes) of every file pymarc and we can both read."""
    from kede.catalog.ingest.readers import FORMAT_ISO2709, FORMAT_MARCXML, detect_format

    files = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue  # unreadable: skipped
        kind = detect_format(data[:8192])
        if kind in (FORMAT_ISO2709, FORMAT_MARCXML):
            files.append((str(path.relative_to(corpus)), kind, data))
        if max_files and len(files) >= max_files:
            break
    return files


def bare_parse(files: list[tuple[str, str, bytes]]) -> tuple[int, float]:
    import pymarc

    from kede.catalog.ingest.readers import FORMAT_ISO2709

    records, start = 0, time.perf_counter()
    quiet = io.StringIO()  # pymarc prints what it cannot convert from MARC-8
    for _name, kind, data in files:
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                if kind == FORMAT_ISO2709:
                    reader = pymarc.MARCReader(data, to_unicode=True, permissive=True)
                    records += sum(1 for r in reader if r is not None)
                else:
                    records += len(pymarc.parse_xml_to_array(io.BytesIO(data)))
        except Exception:  # noqa: S112 — pymarc gives up on some broken files; so be it
            continue
    return records, time.perf_counter() - start


def pipeline_only(files: list[tuple[str, str, bytes]]) -> tuple[dict[str, int], float]:
    from kede.catalog.ingest import ingest

    counts, start = {}, time.perf_counter()
    for name, _kind, data in files:
        counts[name] = sum(1 for _ in ingest(data, source=name))
    return counts, time.perf_counter() - start


# ---- the database ---------------------------------------------------------------------------


def setup_django(args) -> str | None:
    """Point Kede at a fresh database; returns the PostgreSQL schema to drop, if any."""
    instance = tempfile.mkdtemp(prefix="kede-catalogue-bench-")
    os.environ["KEDE_INSTANCE_DIR"] = instance
    os.environ["KEDE_SEARCH_DIR"] = str(Path(instance) / "search")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kede.settings")
    os.environ["KEDE_LOG_LEVEL"] = "ERROR"
    os.environ["KEDE_SEARCH_ENGINE"] = args.search or ("postgres" if args.pg else "tantivy")
    schema = None
    if args.pg:
        import psycopg

        schema = f"kede_catalogue_bench_{os.getpid()}"
        with psycopg.connect(_libpq(args.pg_url), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in args.pg_url else "?"
        # public too: extensions (RUM, for the PostgreSQL search engine) live there
        os.environ["DATABASE_URL"] = f"{args.pg_url}{sep}options=-c%20search_path%3D{schema},public"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(instance) / 'bench.sqlite3'}"
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


def describe(connection) -> str:
    if connection.vendor == "sqlite":
        return f"SQLite {connection.Database.sqlite_version}"
    version = connection.pg_version  # e.g. 150020
    return f"PostgreSQL {version // 10000}.{version % 10000}"


def make_libraries() -> list:
    from kede.catalog import services
    from kede.consortium import services as consortium

    centre = consortium.consortium_ensure(code="bench", name="Bench consortium")
    consortium.region_add(consortium=centre, code="R1", name="Region one", group="east")
    sources = []
    for code in LIBRARIES:
        institution = consortium.institution_add(
            code=code, name=f"{code} library", region_code="R1", type="research_university"
        )
        sources.append(services.source_add(institution=institution, name="catalogue"))
    return sources


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def load_all(sources, files, counts: dict[str, int], *, profile: bool) -> dict:
    from django.db import connection

    from kede.catalog import indexing, services

    per_library = []
    total_records = total_s = 0.0
    queries = None
    profiler = None
    for i, source in enumerate(sources):
        mine = [f for k, f in enumerate(files) if i in (k % 3, (k + 1) % 3)]
        biggest = max((f[0] for f in mine), key=lambda name: counts.get(name, 0), default=None)
        read = accepted = 0
        if profile and i == 1:
            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        # as `kede catalog load FILE... --source` does: the search index written once at the end
        with indexing.deferred():
            for name, _kind, data in mine:
                if i == 1 and name == biggest:
                    # the queries the biggest file of the second library costs
                    counter = QueryCounter()
                    with connection.execute_wrapper(counter):
                        run = services.catalogue_load(source=source, data=data, file_name=name)
                    queries = (counter.count, run.report.get("read", 0), name)
                else:
                    run = services.catalogue_load(source=source, data=data, file_name=name)
                read += run.report.get("read", 0)
                accepted += run.report.get("outcomes", {}).get("accepted", 0)
        seconds = time.perf_counter() - start
        if profiler is not None and i == 1:
            profiler.disable()
        per_library.append(
            {
                "library": source.institution.code,
                "files": len(mine),
                "records": read,
                "accepted": accepted,
                "seconds": round(seconds, 2),
                "records_per_s": round(read / seconds, 1) if seconds else None,
            }
        )
        total_records += read
        total_s += seconds
    out = {
        "per_library": per_library,
        "records": int(total_records),
        "seconds": round(total_s, 2),
        "records_per_s": round(total_records / total_s, 1) if total_s else None,
    }
    if queries:
        n, records, name = queries
        out["queries_per_record"] = {
            "file": name,
            "records": records,
            "queries": n,
            "per_record": round(n / max(records, 1), 1),
        }
    if profiler is not None:
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats("kede", 30)
        out["profile"] = buffer.getvalue()
    return out


def search_latency(n_queries: int, rng: random.Random) -> dict:
    from kede.catalog import indexing
    from kede.catalog.models import Work
    from kede.catalog.normalise import fold_text
    from kede.catalog.selectors import works_search

    start = time.perf_counter()
    indexed = indexing.rebuild()
    rebuild_s = time.perf_counter() - start
    works = list(Work.objects.values_list("title", "isbn"))
    rng.shuffle(works)
    queries: list[tuple[str, str]] = []
    for title, isbn in works:
        words = [w for w in fold_text(title).split() if len(w) > 2 and w.isalnum()]
        if words:
            queries.append(("1 word", rng.choice(words)))
        if len(words) >= 2:
            queries.append(("2 words", " ".join(rng.sample(words, 2))))
        if isbn:
            queries.append(("ISBN", isbn))
        if len(queries) >= n_queries:
            break
    for _kind, q in queries[:20]:  # warm up
        works_search(q)
    samples: dict[str, list[float]] = {}
    found = 0
    for kind, q in queries:
        t0 = time.perf_counter()
        page = works_search(q)
        samples.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
        found += bool(page.total)
    every = [ms for values in samples.values() for ms in values]
    return {
        "indexed_works": indexed,
        "rebuild_s": round(rebuild_s, 2),
        "queries": len(every),
        "found_something": round(found / max(len(every), 1), 3),
        "all": percentiles(every) if every else {},
        "by_kind": {k: percentiles(v) for k, v in samples.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path)
    parser.add_argument("--max-files", type=int, default=None)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--search", choices=("tantivy", "postgres"),
                        help="search engine (default: tantivy; postgres with --pg)")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="cProfile the second load")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    corpus = args.corpus or (SHARED_CORPUS if SHARED_CORPUS.is_dir() else BUNDLED)
    schema = setup_django(args)
    try:
        from django.core.management import call_command
        from django.db import connection

        files = read_corpus(corpus, args.max_files)
        if not files:
            corpus = BUNDLED
            files = read_corpus(corpus, args.max_files)
        bare_records, bare_s = bare_parse(files)
        counts, pipe_s = pipeline_only(files)
        pipe_records = sum(counts.values())
        call_command("migrate", interactive=False, verbosity=0)
        sources = make_libraries()
        load = load_all(sources, files, counts, profile=args.profile)
        from kede.catalog.models import CatalogRecord, Holding, Work

        sizes = {
            "works": Work.objects.count(),
            "member_records": CatalogRecord.objects.count(),
            "holdings": Holding.objects.count(),
        }
        search = search_latency(args.queries, random.Random(args.seed))
        database = describe(connection)
    finally:
        if schema and not args.keep:
            from django.db import connection

            connection.close()
            drop_schema(args, schema)
    bare_rate = bare_records / bare_s if bare_s else 0
    result = {
        "corpus": str(corpus.name),
        "files": len(files),
        "megabytes": round(sum(len(d) for *_x, d in files) / 1e6, 1),
        "database": database,
        "search_engine": os.environ["KEDE_SEARCH_ENGINE"],
        "machine": f"{os.cpu_count()} cores · Python {platform.python_version()}",
        "bare_parse": {"records": bare_records, "records_per_s": round(bare_rate, 1)},
        "pipeline": {
            "records": pipe_records,
            "records_per_s": round(pipe_records / pipe_s, 1) if pipe_s else None,
        },
        "load": {k: v for k, v in load.items() if k != "profile"},
        "load_to_bare_ratio": round(load["records_per_s"] / bare_rate, 4) if bare_rate else None,
        "sizes": sizes,
        "search": search,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(
        f"{result['files']} files ({result['megabytes']} MB) from {result['corpus']} · "
        f"{result['database']} + {result['search_engine']} · {result['machine']}"
    )
    bare = result["bare_parse"]
    print(f"bare pymarc parsing: {bare['records']:,} records, {bare['records_per_s']:,} records/s")
    print(f"ingest pipeline (no database): {result['pipeline']['records_per_s']:,} records/s")
    for row in load["per_library"]:
        print(
            f"load {row['library']}: {row['files']} files, {row['records']:,} records "
            f"({row['accepted']:,} kept) in {row['seconds']} s = {row['records_per_s']:,} records/s"
        )
    print(
        f"load overall: {load['records']:,} records in {load['seconds']} s = "
        f"{load['records_per_s']:,} records/s; {result['load_to_bare_ratio']} of bare parsing"
    )
    if "queries_per_record" in load:
        q = load["queries_per_record"]
        print(
            f"SQL per record: {q['per_record']} ({q['queries']:,} queries for the "
            f"{q['records']} records of {q['file']})"
        )
    print(
        f"after the load: {sizes['works']:,} works, {sizes['member_records']:,} member records, "
        f"{sizes['holdings']:,} holdings; index rebuilt in {search['rebuild_s']} s"
    )
    a = search["all"]
    print(
        f"search ({search['queries']} queries, {search['found_something']:.0%} found something): "
        f"p50 {a.get('p50_ms')} ms  p95 {a.get('p95_ms')} ms  p99 {a.get('p99_ms')} ms"
    )
    for kind, p in search["by_kind"].items():
        print(f"  {kind:<8} p50 {p['p50_ms']} ms  p95 {p['p95_ms']} ms  p99 {p['p99_ms']} ms")
    if "profile" in load:
        print(load["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
