"""`kede catalog load-marc FILE… --institution CODE`: the foundation's simple loader."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kede.catalog.services import LoadReport, catalog_load_file
from kede.consortium.models import Institution


class Command(BaseCommand):
    help = "Load catalogue records."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load-marc", help="Load MARC21 or MARCXML files for one holder.")
        load.add_argument("paths", nargs="+", type=Path)
        load.add_argument("--institution", required=True, help="Code of the holding library.")

    def handle(self, *args, **opts) -> None:
        try:
            institution = Institution.objects.get(code=opts["institution"].upper())
        except Institution.DoesNotExist:
            raise CommandError(f"No institution {opts['institution']!r}") from None
        total = LoadReport()
        for path in opts["paths"]:
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            total.add(catalog_load_file(path=path, holders=lambda _bib: [institution]))
        for name, position, reason in total.rejected:
            self.stderr.write(f"rejected {name} #{position}: {reason}")
        self.stdout.write(
            f"read {total.read}, new works {total.works_created}, "
            f"new holdings {total.holdings_created}, rejected {len(total.rejected)}"
        )
