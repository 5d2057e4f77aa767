"""`kede catalog …`: the union catalogue from a script.

kede catalog add-source CODE --name NAME [--oai URL --prefix marc21 --set S]...
    [--mapping PRESET|FILE.json]
kede catalog sources [--json]
kede catalog ingest FILE... --institution CODE | --source ID [--whole-catalogue [--force]] [--json]
    (also `kede catalog load`)
kede catalog search QUERY [--held-by CODE] [--region R] [--format F] [--year-from Y] ... [--json]
kede catalog stats [--json]
kede catalog articles load FILE... [--json] | attach | reindex | search QUERY [--json]
kede catalog harvest [--source ID | --institution CODE]
kede catalog report RUN_ID [--json]
kede catalog reindex
kede catalog scope show | set FILE.json | preset NAME
kede catalog load-marc FILE... --institution CODE      (the foundation's simple loader)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kede.catalog import indexing, selectors, services
from kede.catalog.ingest import PRESETS
from kede.catalog.ingest.scope import PRESETS as SCOPE_PRESETS
from kede.catalog.models import IngestRun, IngestStatus, Source, SourceKind
from kede.consortium.models import Consortium, Institution


def _institution(code: str) -> Institution:
    try:
        return Institution.objects.get(code=code.upper())
    except Institution.DoesNotExist:
        raise CommandError(f"No institution {code!r}") from None


def _source(source_id: int) -> Source:
    try:
        return Source.objects.select_related("institution").get(id=source_id)
    except Source.DoesNotExist:
        raise CommandError(f"No catalogue source {source_id}") from None


def _json_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(f"{path}: give a JSON object")
    return data


def run_lines(run: IngestRun, *, rejected: int | None = None) -> list[str]:
    """A load's report as text: its counts, then its rejected records with their reasons."""
    report = run.report or {}
    outcomes = report.get("outcomes", {})
    lines = [
        f"load {run.id} ({run.file_name or '-'}) of source {run.source_id}: {run.status}"
        + (f" — {run.error}" if run.error else ""),
        f"read {report.get('read', 0)}: accepted {outcomes.get('accepted', 0)}, "
        f"deleted {outcomes.get('deleted', 0)}, rejected {outcomes.get('rejected', 0)}",
        f"records added {run.records_added}, updated {run.records_updated}, "
        f"deleted {run.records_deleted}; works new {run.works_created}, "
        f"merged {run.works_merged}, split {run.works_split}",
    ]
    if report.get("categories"):
        lines.append(
            "by category: " + ", ".join(f"{k} {v}" for k, v in sorted(report["categories"].items()))
        )
    if report.get("harvest"):
        facts = report["harvest"]
        lines.append(
            f"harvest: {facts['pages']} pages, {facts['records']} records, "
            f"{facts['deleted']} deleted; next from {facts['from'] or '-'}"
        )
    listed = report.get("rejected", [])
    shown = listed if rejected is None else listed[:rejected]
    for r in shown:
        where = f"#{r['position']}" + (f" {r['local_id']}" if r.get("local_id") else "")
        lines.append(f"rejected {r.get('source') or run.file_name} {where}: {r['reason']}")
    hidden = report.get("rejected_unlisted", 0) + len(listed) - len(shown)
    if hidden:
        lines.append(f"… and {hidden} more rejected records")
    return lines


def run_json(run: IngestRun) -> dict:
    return {
        "id": run.id,
        "source": run.source_id,
        "file": run.file_name,
        "status": run.status,
        "error": run.error,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        **{name: getattr(run, name) for name in services.RUN_COUNTS},
        "report": run.report,
    }


def ingest_totals(runs: list[IngestRun]) -> dict:
    """One load's (or several files') totals, as `catalog ingest --json` prints them: records
    read, stored, rejected (by reason), withdrawn, and what became of the works."""
    rejected: dict[str, int] = {}
    read = stored = 0
    for run in runs:
        report = run.report or {}
        read += report.get("read", 0)
        outcomes = report.get("outcomes", {})
        stored += outcomes.get("accepted", 0)
        for reason, count in report.get("rejected_categories", {}).items():
            rejected[reason] = rejected.get(reason, 0) + count
    return {
        "read": read,
        "stored": stored,
        "rejected": rejected,
        **{name: sum(getattr(r, name) for r in runs) for name in services.RUN_COUNTS},
        "runs": [run_json(run) | {"report": None} for run in runs],
    }


class _Progress:
    """Records read so far, on one rewritten line of a terminal (nothing when not a terminal
    or when the output is JSON)."""

    def __init__(self, out, name: str, *, enabled: bool) -> None:
        self.out, self.name = out, name
        self.enabled = enabled and out.isatty()
        self.started = time.monotonic()
        self.shown = False

    def update(self, read: int) -> None:
        if not self.enabled:
            return
        rate = read / max(time.monotonic() - self.started, 1e-6)
        self.out.write(f"\r{self.name}: {read:,} records read ({rate:,.0f}/s)", ending="")
        self.out.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.out.write("")


class Command(BaseCommand):
    help = "The union catalogue: sources, loads, harvests, reports, the index and the scope."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        add = sub.add_parser("add-source", help="Add or update a member's catalogue source.")
        add.add_argument("code", help="Code of the member institution.")
        add.add_argument("--name", required=True)
        add.add_argument("--oai", metavar="URL", default="", help="OAI-PMH base URL.")
        add.add_argument("--prefix", default="marc21", help="OAI-PMH metadata prefix.")
        add.add_argument(
            "--set", action="append", default=[], dest="sets", help="OAI-PMH set; repeatable."
        )
        add.add_argument(
            "--mapping",
            default="",
            help=f"A preset ({', '.join(sorted(PRESETS))}) or a JSON file of the field mapping.",
        )

        sources = sub.add_parser("sources", help="List catalogue sources.")
        sources.add_argument("--json", action="store_true")

        load = sub.add_parser(
            "ingest",
            aliases=["load"],
            help="Load files (MARC21 in UTF-8 or MARC-8, MARCXML, MARC-in-JSON, CSV; gzipped).",
        )
        load.add_argument("paths", nargs="+", type=Path)
        to = load.add_mutually_exclusive_group(required=True)
        to.add_argument("--source", type=int, help="Source id.")
        to.add_argument("--institution", help="Institution code (its default upload source).")
        load.add_argument("--show", type=int, default=50, help="Rejected records to list.")
        load.add_argument(
            "--whole-catalogue",
            action="store_true",
            help="The files are the source's whole catalogue: withdraw its records they lack.",
        )
        load.add_argument(
            "--force",
            action="store_true",
            help="With --whole-catalogue: withdraw even when most of the source's records go.",
        )
        load.add_argument(
            "--json", action="store_true", help="Print one JSON object with the totals."
        )

        search = sub.add_parser("search", help="Search the union catalogue.")
        search.add_argument("query")
        search.add_argument("--held-by", action="append", default=[], metavar="CODE")
        search.add_argument("--region", action="append", default=[], metavar="CODE")
        search.add_argument("--format", action="append", default=[], dest="formats")
        search.add_argument("--language", action="append", default=[], dest="languages")
        search.add_argument("--year-from", type=int)
        search.add_argument("--year-to", type=int)
        search.add_argument("--sort", default="relevance", choices=["relevance", "year"])
        search.add_argument("--limit", type=int, default=20)
        search.add_argument("--page", type=int, default=1)
        search.add_argument("--json", action="store_true")

        stats = sub.add_parser("stats", help="What the union catalogue holds.")
        stats.add_argument("--json", action="store_true")

        articles = sub.add_parser(
            "articles", help="Journal articles (Crossref, JATS, PubMed, CSV)."
        )
        article_sub = articles.add_subparsers(dest="article_action", required=True)
        article_load = article_sub.add_parser("load", help="Load article metadata files.")
        article_load.add_argument("paths", nargs="+", type=Path)
        article_load.add_argument("--json", action="store_true")
        article_sub.add_parser("attach", help="Attach articles to journals that arrived since.")
        article_sub.add_parser("reindex", help="Rebuild the article search index.")
        article_search = article_sub.add_parser("search", help="Search the articles.")
        article_search.add_argument("query")
        article_search.add_argument("--limit", type=int, default=20)
        article_search.add_argument("--json", action="store_true")

        harvest = sub.add_parser("harvest", help="Harvest OAI-PMH sources.")
        which = harvest.add_mutually_exclusive_group()
        which.add_argument("--source", type=int, help="Source id (default: every active one).")
        which.add_argument("--institution", help="Every active OAI-PMH source of this member.")

        report = sub.add_parser("report", help="A load's report.")
        report.add_argument("run_id", type=int)
        report.add_argument("--json", action="store_true")

        sub.add_parser("reindex", help="Rebuild the search index from the database.")

        scope = sub.add_parser("scope", help="What the consortium keeps in the catalogue.")
        scope_sub = scope.add_subparsers(dest="scope_action", required=True)
        scope_sub.add_parser("show")
        scope_set = scope_sub.add_parser("set", help="Set the rule from a JSON file.")
        scope_set.add_argument("path", type=Path)
        scope_preset = scope_sub.add_parser("preset", help="Set a preset rule.")
        scope_preset.add_argument("name", help=f"One of: {', '.join(SCOPE_PRESETS)}.")

        marc = sub.add_parser("load-marc", help="Load MARC21 or MARCXML files for one holder.")
        marc.add_argument("paths", nargs="+", type=Path)
        marc.add_argument("--institution", required=True, help="Code of the holding library.")

    def handle(self, *args, **opts) -> None:
        try:
            action = {"load": "ingest"}.get(opts["action"], opts["action"])
            getattr(self, "_" + action.replace("-", "_"))(opts)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc

    # ---- sources ----------------------------------------------------------------------------

    def _add_source(self, opts: dict) -> None:
        mapping: dict | str | None = opts["mapping"] or None
        if mapping and mapping not in PRESETS:
            mapping = _json_file(Path(mapping))
        source = services.source_add(
            institution=_institution(opts["code"]),
            name=opts["name"],
            kind=SourceKind.OAI if opts["oai"] else SourceKind.UPLOAD,
            oai_url=opts["oai"],
            oai_prefix=opts["prefix"],
            oai_sets=" ".join(opts["sets"]),
            mapping=mapping,
        )
        self.stdout.write(
            f"{source.id}\t{source.institution.code}\t{source.kind}\t{source.name}\t"
            f"{source.mapping.get('name', '')}"
        )

    def _sources(self, opts: dict) -> None:
        rows = []
        for source in Source.objects.select_related("institution").order_by("id"):
            last = source.runs.defer("samples", "report").first()
            state = source.harvest_state or {}
            rows.append(
                {
                    "id": source.id,
                    "institution": source.institution.code,
                    "name": source.name,
                    "kind": source.kind,
                    "active": source.is_active,
                    "oai_url": source.oai_url,
                    "oai_prefix": source.oai_prefix,
                    "oai_sets": source.oai_sets.split(),
                    "mapping": source.mapping.get("name", ""),
                    "records": source.records.count(),
                    "harvested_from": state.get("from_datestamp"),
                    "last_load": run_json(last) | {"report": None} if last else None,
                }
            )
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for row in rows:
            last = row["last_load"]
            self.stdout.write(
                f"{row['id']}\t{row['institution']}\t{row['kind']}\t{row['name']}\t"
                f"{row['records']} records\t"
                + (f"last load {last['id']} {last['status']}" if last else "never loaded")
            )

    # ---- loads ------------------------------------------------------------------------------

    def _ingest(self, opts: dict) -> None:
        if opts["source"] is not None:
            source = _source(opts["source"])
        else:
            source = services.default_source(_institution(opts["institution"]))
        if opts["force"] and not opts["whole_catalogue"]:
            raise CommandError("--force only goes with --whole-catalogue")
        runs: list[IngestRun] = []
        failed: list[str] = []
        with indexing.deferred():  # one search-index commit for all the files
            self._load_files(source, opts, runs, failed)
        if opts["json"]:
            self.stdout.write(json.dumps(ingest_totals(runs), ensure_ascii=False, indent=2))
        if failed:
            raise CommandError(f"not loaded: {', '.join(failed)}")

    def _load_files(
        self, source: Source, opts: dict, runs: list[IngestRun], failed: list[str]
    ) -> None:
        paths = opts["paths"]
        if opts["whole_catalogue"] and len(paths) > 1:
            raise CommandError(
                "--whole-catalogue takes one file (join a catalogue sent in parts first)"
            )
        for path in paths:
            try:
                handle = path.open("rb")
            except OSError as exc:
                self.stderr.write(f"{path}: {exc.strerror or exc}")
                failed.append(str(path))
                continue
            bar = _Progress(self.stderr, path.name, enabled=not opts["json"])
            with handle:
                run = services.catalogue_load(
                    source=source,
                    data=handle,
                    file_name=path.name,
                    replace=opts["whole_catalogue"],
                    force=opts["force"],
                    progress=bar.update,
                )
            bar.done()
            runs.append(run)
            if not opts["json"]:
                for line in run_lines(run, rejected=opts["show"]):
                    self.stdout.write(line)
            if run.status != IngestStatus.DONE:
                failed.append(str(path))

    # ---- search and figures -----------------------------------------------------------------

    def _search(self, opts: dict) -> None:
        from kede.catalog.search import QueryError

        try:
            page = selectors.works_search(
                opts["query"],
                page=opts["page"],
                per_page=max(1, min(opts["limit"], 100)),
                held_by=tuple(c.upper() for c in opts["held_by"]),
                regions=tuple(opts["region"]),
                formats=tuple(opts["formats"]),
                languages=tuple(opts["languages"]),
                year_from=opts["year_from"],
                year_to=opts["year_to"],
                sort=opts["sort"],
            )
        except QueryError as exc:
            raise CommandError(str(exc)) from None
        holdings = selectors.holdings_by_work([w.id for w in page.works])
        hits = [
            {
                "id": w.id,
                "title": w.title,
                "author": w.author,
                "year": w.year,
                "format": w.format,
                "language": w.language,
                "isbn": w.isbn,
                "issn": w.issn,
                "holders": sorted({h.institution.code for h in holdings.get(w.id, [])}),
            }
            for w in page.works
        ]
        if opts["json"]:
            result = {"query": opts["query"], "total": page.total, "page": page.number}
            result |= {"problems": list(page.problems), "hits": hits}
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        for problem in page.problems:
            self.stderr.write(problem)
        self.stdout.write(f"{page.total} works")
        for hit in hits:
            self.stdout.write(
                f"{hit['id']}\t{hit['year'] or '-'}\t{hit['title']}"
                + (f" / {hit['author']}" if hit["author"] else "")
                + f"\t{', '.join(hit['holders']) or '(no holder)'}"
            )

    def _stats(self, opts: dict) -> None:
        figures = selectors.catalogue_stats()
        if opts["json"]:
            self.stdout.write(json.dumps(figures, ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            f"{figures['works']} works from {figures['records']} records of "
            f"{figures['sources']} sources; {figures['holdings']} holdings at "
            f"{figures['holding_institutions']} institutions; {figures['shared_works']} works "
            f"held by two or more"
        )
        for name in ("formats", "languages"):
            top = ", ".join(f"{k} {v}" for k, v in list(figures[name].items())[:12])
            self.stdout.write(f"{name}: {top}")
        for code, counts in figures["institutions"].items():
            self.stdout.write(f"{code}\t{counts['records']} records\t{counts['holdings']} holdings")
        if figures["index_backlog"]:
            self.stdout.write(f"search index: {figures['index_backlog']} works still to write")

    def _harvest(self, opts: dict) -> None:
        if opts["source"] is not None:
            sources = [_source(opts["source"])]
        else:
            active = Source.objects.filter(kind=SourceKind.OAI, is_active=True)
            if opts["institution"]:
                active = active.filter(institution=_institution(opts["institution"]))
            sources = list(active.select_related("institution").order_by("id"))
            if not sources:
                self.stdout.write("no active OAI-PMH source")
                return
        failed = []
        for source in sources:
            run = services.catalogue_harvest(source=source)
            if run is None:
                self.stdout.write(f"source {source.id} ({source}): being harvested; skipped")
                continue
            for line in run_lines(run, rejected=20):
                self.stdout.write(line)
            if run.status != IngestStatus.DONE:
                failed.append(str(source.id))
        if failed:
            raise CommandError(f"harvest failed for source(s) {', '.join(failed)}")

    def _report(self, opts: dict) -> None:
        try:
            run = IngestRun.objects.defer("samples").get(id=opts["run_id"])
        except IngestRun.DoesNotExist:
            raise CommandError(f"No load {opts['run_id']}") from None
        if opts["json"]:
            self.stdout.write(json.dumps(run_json(run), ensure_ascii=False, indent=2))
            return
        for line in run_lines(run):
            self.stdout.write(line)

    def _reindex(self, opts: dict) -> None:
        from kede.catalog.indexing import rebuild

        self.stdout.write(f"indexed {rebuild()} works")

    # ---- articles ---------------------------------------------------------------------------

    def _articles(self, opts: dict) -> None:
        from kede.catalog import article_index, article_services

        action = opts["article_action"]
        if action == "attach":
            self.stdout.write(f"attached {article_services.articles_attach()} articles")
        elif action == "reindex":
            self.stdout.write(f"indexed {article_index.rebuild()} articles")
        elif action == "search":
            self._article_search(opts)
        else:
            self._article_load(opts)

    def _article_load(self, opts: dict) -> None:
        from kede.catalog import article_services

        reports, failed = [], []
        for path in opts["paths"]:
            if not path.is_file():
                self.stderr.write(f"{path}: no such file")
                failed.append(str(path))
                continue
            report = article_services.articles_load(path=path)
            reports.append({"file": path.name, **report.as_dict()})
            if not opts["json"]:
                self.stdout.write(
                    f"{path.name}: read {report.read}, new {report.stored}, updated "
                    f"{report.updated}, attached to their journal {report.attached}, "
                    f"rejected {len(report.rejected)}"
                )
                for _name, position, reason in report.rejected[:50]:
                    self.stdout.write(f"rejected #{position}: {reason}")
        if opts["json"]:
            self.stdout.write(json.dumps(reports, ensure_ascii=False, indent=2))
        if failed:
            raise CommandError(f"not loaded: {', '.join(failed)}")

    def _article_search(self, opts: dict) -> None:
        from kede.catalog.search import QueryError

        try:
            page = selectors.articles_search(
                opts["query"], per_page=max(1, min(opts["limit"], 100))
            )
        except QueryError as exc:
            raise CommandError(str(exc)) from None
        hits = [
            {
                "id": hit.article.id,
                "title": hit.article.title,
                "authors": hit.article.authors,
                "journal": hit.article.journal_title,
                "journal_work": hit.article.journal_id,
                "year": hit.article.year,
                "volume": hit.article.volume,
                "issue": hit.article.issue,
                "pages": hit.article.pages,
                "doi": hit.article.doi,
                "holders": [{"code": code, "coverage": state} for code, state in hit.holders],
            }
            for hit in page.hits
        ]
        if opts["json"]:
            body = {"query": opts["query"], "total": page.total, "hits": hits}
            self.stdout.write(json.dumps(body, ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"{page.total} articles")
        for hit in hits:
            where = ", ".join(h["code"] for h in hit["holders"]) or "(journal not held)"
            self.stdout.write(
                f"{hit['id']}\t{hit['year'] or '-'}\t{hit['title']} — {hit['journal']} "
                f"{hit['volume']}:{hit['pages']}\t{where}"
            )

    # ---- scope ------------------------------------------------------------------------------

    def _scope(self, opts: dict) -> None:
        action = opts["scope_action"]
        if action == "show":
            self.stdout.write(
                json.dumps(services.scope_rule().to_dict(), ensure_ascii=False, indent=2)
            )
            return
        if action == "set":
            rule = _json_file(opts["path"])
        else:
            name = opts["name"].lower()
            found = [k for k in SCOPE_PRESETS if k == name or k.startswith(name)]
            if len(found) != 1:
                raise CommandError(f"No scope preset {name!r}; one of: {', '.join(SCOPE_PRESETS)}")
            rule = SCOPE_PRESETS[found[0]].to_dict()
        consortium = Consortium.objects.order_by("id").first()
        if consortium is None:
            raise CommandError("No consortium yet: add a region first (kede consortium add-region)")
        policy = services.scope_set(consortium=consortium, rule=rule)
        self.stdout.write(json.dumps(policy.rule, ensure_ascii=False, indent=2))

    # ---- the foundation's simple loader -----------------------------------------------------

    def _load_marc(self, opts: dict) -> None:
        institution = _institution(opts["institution"])
        total = services.LoadReport()
        for path in opts["paths"]:
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            total.add(services.catalog_load_file(path=path, holders=lambda _bib: [institution]))
        for name, position, reason in total.rejected:
            self.stderr.write(f"rejected {name} #{position}: {reason}")
        self.stdout.write(
            f"read {total.read}, new works {total.works_created}, "
            f"new holdings {total.holdings_created}, rejected {len(total.rejected)}"
        )
