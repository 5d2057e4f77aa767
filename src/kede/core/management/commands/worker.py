"""`kede worker`: run background tasks (start as many as the load needs, on any machine)."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run background tasks from the database queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", default="1")
        parser.add_argument("--batch", action="store_true", help="Run what is due, then exit.")

    def handle(self, *args, **opts) -> None:
        argv = ["--queue-name", "*", "--interval", str(opts["interval"]), "--no-reload"]
        if opts["batch"]:
            argv.append("--batch")
        call_command("db_worker", *argv)
