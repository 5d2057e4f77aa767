"""How fast the ingest pipeline runs, against bare pymarc parsing of the same files.

    .venv/bin/python bench/ingest_speed.py [--repeat 3] [--workers N] [--json] [CORPUS]

CORPUS defaults to ../shared/data/marc beside the repository. Every ISO 2709 and MARCXML file in
it is loaded into memory first (the formats pymarc reads itself), then, one core, best of
`--repeat` runs:

- bare: pymarc.MARCReader (to_unicode, permissive: MARC-8 converted, as we do) for ISO 2709,
  pymarc.parse_xml_to_array for MARCXML; records/s counts the records it returns. The
  reference.
- lean: our readers alone (kede.catalog.ingest.read_records: framing, checks, character sets,
  lean records with the fields decoded); records/s counts every position, rejections included.
- pipeline: kede.catalog.ingest.ingest over the same bytes, every outcome taken (format
  detection, framing and checks, MARC-8, bibliographic extraction with match keys, local id,
  holdings with the MARC21 852 mapping, the humanities and social sciences scope, the report);
  records/s counts every outcome, rejections included.

With `--workers N` (N > 1) the pipeline also runs over the files in N processes
(multiprocessing; each process loads the corpus once, then takes files as they come), for the
machine's whole figure: wall-clock records/s of all of them together.

The figures are given for the whole corpus and for the "clean" files (pymarc reads every record
of them without an error, and so do we: the same records on both sides, the fairest ratio).
pymarc stops at the first broken record of a file, which makes it look faster on the whole
corpus. Peak RSS is the process's (and, with workers, the largest worker's) high-water mark.
Goal (the issue): the pipeline at 15,000 records/s or more on the machine (two cores).
Nothing is asserted: machines are shared and noisy; read the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import multiprocessing
import os
import platform
import resource
import sys
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pymarc

from kede.catalog.ingest import (
    DEFAULT_MAPPING,
    HUMANITIES_SOCIAL_SCIENCES,
    IngestReport,
    ingest,
    read_records,
)
from kede.catalog.ingest.readers import FORMAT_ISO2709, FORMAT_MARCXML, detect_format

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "marc"
GOAL = 15_000  # records/s, the machine's whole figure


def load(corpus: Path) -> list[tuple[str, str, bytes]]:
    files = []
    for path in sorted(corpus.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            kind = detect_format(data[:8192])
            if kind in (FORMAT_ISO2709, FORMAT_MARCXML):
                files.append((path.name, kind, data))
    return files


def bare(files: list[tuple[str, str, bytes]]) -> int:
    count = 0
    for _name, kind, data in files:
        if kind == FORMAT_ISO2709:
            count += sum(
                r is not None for r in pymarc.MARCReader(data, to_unicode=True, permissive=True)
            )
        else:
            try:
                count += len(pymarc.parse_xml_to_array(io.BytesIO(data)))
            except Exception:  # noqa: S112 - a broken file counts nothing, as the reader gives
                continue
    return count


def lean(files: list[tuple[str, str, bytes]]) -> int:
    count = 0
    for _name, _kind, data in files:
        for _result in read_records(data):
            count += 1
    return count


def pipeline(files: list[tuple[str, str, bytes]]) -> int:
    report = IngestReport()
    for name, _kind, data in files:
        outcomes = ingest(
            data,
            mapping=DEFAULT_MAPPING,
            scope=HUMANITIES_SOCIAL_SCIENCES,
            report=report,
            source=name,
        )
        for _outcome in outcomes:
            pass
    return report.read


# --- several processes ---------------------------------------------------------------------

_FILES: dict[str, tuple[str, str, bytes]] = {}


def _worker_start(corpus: Path) -> None:
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    sys.stderr = io.StringIO()  # pymarc's MARC-8 complaints are not what we time
    _FILES.update((entry[0], entry) for entry in load(corpus))


def _worker_run(names: list[str]) -> int:
    return pipeline([_FILES[name] for name in names])


def _worker_rss(_: object) -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def parallel(corpus: Path, files: list, workers: int, repeat: int) -> dict[str, float]:
    """The pipeline over `files` in `workers` processes: the biggest files first, a few files
    per task, so that the processes finish together."""
    names = [name for name, _kind, data in sorted(files, key=lambda f: -len(f[2]))]
    tasks = [names[i : i + 4] for i in range(0, len(names), 4)]
    best, count = float("inf"), 0
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_worker_start, initargs=(corpus,)) as pool:
        pool.map(_worker_rss, range(workers))  # every process started and loaded
        for _ in range(repeat):
            start = time.perf_counter()
            count = sum(pool.imap_unordered(_worker_run, tasks))
            best = min(best, time.perf_counter() - start)
        rss = max(pool.map(_worker_rss, range(workers * 4)))
    return {
        "workers": workers,
        "records": count,
        "seconds": round(best, 3),
        "records_per_s": round(count / best) if best else 0,
        "peak_rss_mb": round(rss / 1024, 1),
    }


def clean_files(files: list[tuple[str, str, bytes]]) -> list[tuple[str, str, bytes]]:
    """Files pymarc reads whole, without a broken record, and our readers read whole too."""
    out = []
    for entry in files:
        _name, kind, data = entry
        if kind == FORMAT_ISO2709:
            reader = pymarc.MARCReader(data, to_unicode=True, permissive=True)
            records = list(reader)
            ok = all(r is not None for r in records)
        else:
            try:
                records = pymarc.parse_xml_to_array(io.BytesIO(data))
                ok = True
            except Exception:
                ok = False
        if not ok or not records:
            continue
        report = IngestReport()
        for _outcome in ingest(data, report=report):
            pass
        if report.categories["unreadable"] == 0 and report.read == len(records):
            out.append(entry)
    return out


def timed(run: Callable[[list], int], files: list, repeat: int) -> tuple[int, float]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run(files)
        best = min(best, time.perf_counter() - start)
    return count, best


def measure(files: list, repeat: int) -> dict[str, float]:
    bare_count, bare_time = timed(bare, files, repeat)
    lean_count, lean_time = timed(lean, files, repeat)
    pipe_count, pipe_time = timed(pipeline, files, repeat)
    bare_rate = bare_count / bare_time if bare_time else 0.0
    lean_rate = lean_count / lean_time if lean_time else 0.0
    pipe_rate = pipe_count / pipe_time if pipe_time else 0.0
    return {
        "files": len(files),
        "bare_records": bare_count,
        "bare_seconds": round(bare_time, 3),
        "bare_records_per_s": round(bare_rate),
        "lean_records": lean_count,
        "lean_seconds": round(lean_time, 3),
        "lean_records_per_s": round(lean_rate),
        "lean_ratio": round(lean_rate / bare_rate, 2) if bare_rate else 0.0,
        "pipeline_records": pipe_count,
        "pipeline_seconds": round(pipe_time, 3),
        "pipeline_records_per_s": round(pipe_rate),
        "ratio": round(pipe_rate / bare_rate, 2) if bare_rate else 0.0,
    }


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "pymarc": version("pymarc"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    # pymarc logs odd indicators and prints MARC-8 characters it cannot map: not what we time.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    files = load(args.corpus)
    results: dict[str, dict[str, float]] = {}
    with contextlib.redirect_stderr(io.StringIO()):
        clean = clean_files(files)
        groups = {
            "all": files,
            "all ISO 2709": [f for f in files if f[1] == FORMAT_ISO2709],
            "all MARCXML": [f for f in files if f[1] == FORMAT_MARCXML],
            "clean": clean,
            "clean ISO 2709": [f for f in clean if f[1] == FORMAT_ISO2709],
            "clean MARCXML": [f for f in clean if f[1] == FORMAT_MARCXML],
        }
        for name, group in groups.items():
            results[name] = measure(group, args.repeat)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        workers: dict[str, dict[str, float]] = {}
        if args.workers > 1:
            for name in ("all", "all ISO 2709"):
                workers[name] = parallel(args.corpus, groups[name], args.workers, args.repeat)
    about = machine()
    if args.json:
        out = {"machine": about, "results": results, "peak_rss_mb": round(peak, 1)}
        print(json.dumps(out | {"workers": workers}, indent=2))
        return 0
    print(
        f"{about['platform']}, {about['cpus']} CPUs ({about['usable_cpus']} usable), load "
        f"{about['load_average']}; Python {about['python']}, pymarc {about['pymarc']}; data in "
        f"memory, best of {args.repeat}"
    )
    print("one process:")
    header = ("files", "n", "bare/s", "lean rec", "lean/s", "ratio", "pipe rec", "pipe/s", "ratio")
    print(f"{header[0]:<16}" + "".join(f"{h:>10}" for h in header[1:]))
    for name, r in results.items():
        print(
            f"{name:<16}{r['files']:>10}{r['bare_records_per_s']:>10}{r['lean_records']:>10}"
            f"{r['lean_records_per_s']:>10}{r['lean_ratio']:>10.2f}{r['pipeline_records']:>10}"
            f"{r['pipeline_records_per_s']:>10}{r['ratio']:>10.2f}"
        )
    print(f"peak RSS (one process, everything above): {peak:.1f} MB")
    best = results["all"]["pipeline_records_per_s"]
    for name, w in workers.items():
        print(
            f"pipeline, {w['workers']} processes, {name}: {w['records']} records in "
            f"{w['seconds']} s = {w['records_per_s']} records/s (peak RSS per process "
            f"{w['peak_rss_mb']} MB)"
        )
        if name == "all":
            best = max(best, w["records_per_s"])
    verdict = "met" if best >= GOAL else "NOT met"
    print(f"goal: pipeline >= {GOAL} records/s on this machine (whole corpus): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
