"""`kede scheduler`: enqueue periodic jobs when they are due."""

from django.core.management.base import BaseCommand, CommandParser

from kede.core import runtime


class Command(BaseCommand):
    help = "Enqueue periodic jobs (idempotent: two schedulers at once do no harm)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=5.0)

    def handle(self, *args, **opts) -> None:
        runtime.Scheduler().run(interval=opts["interval"])
