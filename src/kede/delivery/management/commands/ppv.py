"""`kede ppv …`: put a vendor's price list on sale, set what libraries pay, list vendors."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kede.consortium.models import Institution
from kede.delivery import ppv_services as services


class Command(BaseCommand):
    help = "Pay-per-view: vendors' price lists and what libraries pay of an article's price."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        load = sub.add_parser(
            "load-vendor",
            help="Put a vendor's price list (CSV) and its PDFs on sale; articles left out of "
            "the list are withdrawn, bad rows are reported and change nothing.",
        )
        load.add_argument("code", help="The vendor's code, e.g. DEMOPUB.")
        load.add_argument("--name", required=True, help="The vendor's name.")
        load.add_argument("--prices", required=True, type=Path, help="The price list (CSV).")
        load.add_argument(
            "--files", required=True, type=Path, help="The folder (or ZIP) holding the PDFs."
        )
        load.add_argument("--currency", default="CNY")
        load.add_argument("--json", action="store_true")

        share = sub.add_parser(
            "set-share", help="Set what a library (or, by default, every library) pays."
        )
        share.add_argument("institution", nargs="?", help="Library code; none: the default.")
        share.add_argument("--percent", required=True, help="Percent of each price, 0-100.")
        share.add_argument("--cap", help="At most this much per article (none: no limit).")
        share.add_argument("--currency", default="CNY")

        listing = sub.add_parser("list", help="List vendors with the articles they have on sale.")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        try:
            getattr(self, "_" + opts["action"].replace("-", "_"))(opts)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc

    def _load_vendor(self, opts: dict) -> None:
        try:
            prices = opts["prices"].read_bytes()
            source: Path = opts["files"]
            if source.is_file() and source.suffix.lower() == ".zip":
                files = services.pdfs_in_zip(source.read_bytes())
            else:
                files = services.pdfs_in_folder(source)
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        report = services.ppv_vendor_load(
            actor=None,
            code=opts["code"],
            name=opts["name"],
            prices=prices,
            files=files,
            currency=opts["currency"],
        )
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "vendor": opts["code"].upper(),
                        "applied": report.applied,
                        "loaded": report.loaded,
                        "withdrawn": report.withdrawn,
                        "rejected": [
                            {"row": e.row, "column": e.column, "code": e.code, "value": e.value}
                            for e in report.errors
                        ],
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            for problem in report.problems():
                self.stderr.write(problem)
            self.stdout.write(
                f"{opts['code'].upper()}: {report.loaded} on sale, {report.withdrawn} withdrawn, "
                f"{report.rejected} rows rejected"
            )
        if not report.applied:
            raise CommandError("no row could be loaded; nothing was changed")

    def _set_share(self, opts: dict) -> None:
        institution = None
        if opts["institution"]:
            institution = Institution.objects.filter(code=opts["institution"]).first()
            if institution is None:
                raise CommandError(f"no institution {opts['institution']}")
        try:
            percent = services.parse_amount(opts["percent"])
            cap = services.parse_amount(opts["cap"]) if opts["cap"] else None
        except ValueError as exc:
            raise CommandError(f"not a number: {exc}") from exc
        policy = services.ppv_policy_set(
            actor=None, institution=institution, percent=percent, cap=cap,
            currency=opts["currency"],
        )  # fmt: skip
        limit = "no cap" if policy.cap_per_article is None else f"cap {policy.cap_per_article}"
        self.stdout.write(
            f"{institution.code if institution else 'default'}: library pays "
            f"{policy.library_percent}% ({limit} {policy.currency})"
        )

    def _list(self, opts: dict) -> None:
        rows = [
            {
                "code": v.code,
                "name": v.name,
                "currency": v.currency,
                "active": v.active,
                "on_sale": v.on_sale,
                "sold": v.sold,
                "loaded_at": v.loaded_at.isoformat() if v.loaded_at else None,
            }
            for v in services.vendors_overview()
        ]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for row in rows:
            self.stdout.write(
                f"{row['code']}\t{row['on_sale']} on sale\t{row['sold']} sold\t{row['name']}"
            )
