"""`kede serve`: web, worker and scheduler in one process, on the embedded default."""

from __future__ import annotations

import threading

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from kede.core import runtime


class Command(BaseCommand):
    help = "Run the web server, a task worker and the scheduler in one process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, **opts) -> None:
        if not opts["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        worker = runtime.make_worker("serve")
        scheduler = runtime.Scheduler()
        threading.Thread(target=worker.run, name="kede-worker", daemon=True).start()
        threading.Thread(target=scheduler.run, name="kede-scheduler", daemon=True).start()
        self.stdout.write(
            f"Kede is running at http://{opts['host']}:{opts['port']}/ (Ctrl+C stops)"
        )
        try:
            runtime.serve_web(opts["host"], opts["port"], opts["threads"])
        finally:
            worker.running = False
            scheduler.stop()
