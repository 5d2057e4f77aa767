"""`kede web`: only the web server (run workers and a scheduler as separate processes)."""

from django.core.management.base import BaseCommand, CommandParser

from kede.core import runtime


class Command(BaseCommand):
    help = "Run the web server only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=16)

    def handle(self, *args, **opts) -> None:
        runtime.serve_web(opts["host"], opts["port"], opts["threads"])
