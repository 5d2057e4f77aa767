"""`kede demo`: prepare the database and load the demo consortium, then list its accounts."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from kede.core.commands_util import default_marc_dir
from kede.demo import DEMO_PASSWORD, demo_load


class Command(BaseCommand):
    help = "Create the database and a demo consortium loaded from real catalogue records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--marc-dir", type=Path, default=None)

    def handle(self, *args, **opts) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        summary = demo_load(marc_dir=opts["marc_dir"] or default_marc_dir())
        if summary.created:
            cat = summary.catalogue
            self.stdout.write(
                f"Demo consortium created: {cat.works_created} works, "
                f"{cat.holdings_created} holdings from {cat.read} records "
                f"({len(cat.rejected)} unreadable records skipped)."
            )
        else:
            self.stdout.write("Demo consortium already loaded.")
        self.stdout.write(f"\nDemo accounts (password for all: {DEMO_PASSWORD}):")
        for account in summary.accounts:
            self.stdout.write(f"  {account.username:<16} {account.role:<13} {account.institution}")
        self.stdout.write(
            "  applicant.sicnu  (a reader registration waiting for staff.sicnu to approve it)"
        )
