"""The processes Kede runs: web server, task worker and scheduler, apart or in one process."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.utils.module_loading import import_string

logger = logging.getLogger("kede.runtime")


@dataclass(frozen=True)
class Periodic:
    task_path: str
    every_seconds: int


# Every periodic job is idempotent: two schedulers running at once do no harm.
PERIODIC = [
    Periodic("kede.delivery.tasks.purge_expired_copies", 600),
    Periodic("kede.delivery.tasks.remind_expiring_copies", 3600),
    Periodic("kede.core.tasks.requeue_stalled_tasks", 300),
    Periodic("kede.ill.tasks.send_iso_messages", 30),
    Periodic("kede.routing.tasks.advance_timed_out_supplies", 60),
    Periodic("kede.delivery.ebook_tasks.expire_ebook_loans", 60),
    Periodic("kede.delivery.ebook_tasks.remind_ebooks_due", 3600),
    Periodic("kede.delivery.ppv_tasks.purge_expired_purchases", 600),
    Periodic("kede.catalog.tasks.harvest_sources", 3600),
    Periodic("kede.catalog.tasks.catch_up_index", 60),
    Periodic("kede.catalog.tasks.catch_up_article_index", 60),
    Periodic("kede.catalog.tasks.attach_waiting_articles", 600),
    Periodic("kede.catalog.tasks.resume_stalled_loads", 300),
]


class Scheduler:
    """Enqueues each periodic job when it is due; the workers run them."""

    def __init__(self, jobs: list[Periodic] | None = None) -> None:
        self.jobs = jobs if jobs is not None else PERIODIC
        self.next_run = {job.task_path: 0.0 for job in self.jobs}
        self.stopped = threading.Event()

    def tick(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        fired = []
        for job in self.jobs:
            if now >= self.next_run[job.task_path]:
                import_string(job.task_path).enqueue()
                self.next_run[job.task_path] = now + job.every_seconds
                fired.append(job.task_path)
        return fired

    def run(self, interval: float = 5.0) -> None:
        logger.info("scheduler started with %d periodic jobs", len(self.jobs))
        while not self.stopped.is_set():
            try:
                self.tick()
            except Exception:
                logger.exception("scheduler tick failed; trying again")
            self.stopped.wait(interval)

    def stop(self) -> None:
        self.stopped.set()


def make_worker(worker_id: str, interval: float = 1.0):
    from django_tasks_db.management.commands.db_worker import Worker

    return Worker(
        queue_names=["*"],
        interval=interval,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )


def run_pending_tasks() -> int:
    """Run every task that is due now, in this thread, then return how many ran."""
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="inline",
        excluded_queue_names=[],
    )
    worker.run()
    return worker._run_tasks


def serve_web(host: str, port: int, threads: int) -> None:
    from waitress import serve

    from kede.wsgi import application

    logger.info("serving on http://%s:%s/", host, port)
    serve(application, host=host, port=port, threads=threads, ident="kede")
