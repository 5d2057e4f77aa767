"""How fast the ingest pipeline runs, against bare pymarc parsing of the same files.

    .venv/bin/python bench/ingest_speed.py [--repeat 3] [--json] [CORPUS]

CORPUS defaults to ../shared/data/marc beside the repository. Every ISO 2709 and MARCXML file in
it is loaded into memory first (the formats pymarc reads itself), then, one core, best of
`--repeat` runs:

- bare: pymarc.MARCReader (to_unicode, permissive: MARC-8 converted, as we do) for ISO 2709,
  pymarc.parse_xml_to_array for MARCXML; records/s counts the records it returns;
- pipeline: kede.catalog.ingest.ingest over the same bytes, every outcome taken (format
  detection, framing and checks, MARC-8, bibliographic extraction with match keys, local id,
  holdings with the MARC21 852 mapping, the humanities and social sciences scope, the report);
  records/s counts every outcome, rejections included.

The figures are given for the whole corpus and for the "clean" files (pymarc reads every record
of them without an error, and so do we: the same records on both sides, the fairest ratio).
pymarc stops at the first broken record of a file, which makes it look faster on the whole
corpus. Goal: the pipeline at least half as fast as bare parsing. Nothing is asserted: machines
are shared and noisy; read the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import platform
import sys
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pymarc

from kede.catalog.ingest import DEFAULT_MAPPING, HUMANITIES_SOCIAL_SCIENCES, IngestReport, ingest
from kede.catalog.ingest.readers import FORMAT_ISO2709, FORMAT_MARCXML, detect_format

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "marc"
GOAL = 0.5


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
    pipe_count, pipe_time = timed(pipeline, files, repeat)
    bare_rate = bare_count / bare_time if bare_time else 0.0
    pipe_rate = pipe_count / pipe_time if pipe_time else 0.0
    return {
        "files": len(files),
        "bare_records": bare_count,
        "bare_seconds": round(bare_time, 3),
        "bare_records_per_s": round(bare_rate),
        "pipeline_records": pipe_count,
        "pipeline_seconds": round(pipe_time, 3),
        "pipeline_records_per_s": round(pipe_rate),
        "ratio": round(pipe_rate / bare_rate, 3) if bare_rate else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
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
    if args.json:
        print(json.dumps({"python": platform.python_version(), "results": results}, indent=2))
        return 0
    print(
        f"Python {platform.python_version()}, pymarc {version('pymarc')}, one core, "
        f"data in memory, best of {args.repeat}"
    )
    header = ("files", "n", "bare rec", "bare/s", "pipe rec", "pipe/s", "ratio")
    print(f"{header[0]:<16}" + "".join(f"{h:>10}" for h in header[1:]))
    for name, r in results.items():
        print(
            f"{name:<16}{r['files']:>10}{r['bare_records']:>10}{r['bare_records_per_s']:>10}"
            f"{r['pipeline_records']:>10}{r['pipeline_records_per_s']:>10}{r['ratio']:>10.2f}"
        )
    verdict = "met" if results["clean"]["ratio"] >= GOAL else "NOT met"
    print(f"goal: pipeline >= {GOAL:.0%} of bare parse throughput on the clean files: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
