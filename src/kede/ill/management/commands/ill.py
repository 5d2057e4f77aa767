"""`kede ill list --institution CODE [--json]`: a library's requests, both sides, for scripts."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kede.consortium.models import Institution
from kede.ill.selectors import institution_requests


class Command(BaseCommand):
    help = "Interlibrary loan requests."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="A library's requests as requester and supplier.")
        listing.add_argument("--institution", required=True)
        listing.add_argument("--state", default=None, help="Only this state (either side).")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        try:
            institution = Institution.objects.get(code=opts["institution"].upper())
        except Institution.DoesNotExist:
            raise CommandError(f"No institution {opts['institution']!r}") from None
        rows = institution_requests(institution, state=opts["state"])
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for row in rows:
            self.stdout.write(
                f"{row['number']}\t{row['side']}\t{row['state']}\t{row['partner']}\t{row['title']}"
            )
