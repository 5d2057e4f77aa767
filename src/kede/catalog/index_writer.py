"""The process that writes the search index beside a long load (`indexing.deferred`).

It starts from nothing (spawned, not forked: no copy of the loader's connections), so this
module imports no model until Django is set up with the loader's database and index.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

GATHER_SECONDS = 2.0


def write_beside(
    settings_module: str, database: dict, kind: str, search_dir: str, channel: Any
) -> None:
    """A catch-up each time the loader asks, a last one when told to finish, each one's
    count of works sent back. The index's one writer is held only inside each catch-up."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django
    from django.conf import settings

    # The loader's database and index, as it has them (a test's, a benchmark's).
    settings.DATABASES = {"default": database}
    settings.KEDE_SEARCH_ENGINE = kind
    settings.KEDE_SEARCH_DIR = Path(search_dir)
    django.setup()
    from django.db import connections

    from kede.catalog.indexing import catch_up

    try:
        while True:
            try:
                order = channel.recv()
            except (EOFError, OSError):  # the loader is gone: the backlog keeps the rest
                return
            # A commit of the index costs far more than indexing a batch: let the load commit
            # a few batches first, unless it has finished.
            deadline = time.monotonic() + GATHER_SECONDS
            while order != "finish" and (left := deadline - time.monotonic()) > 0:
                if channel.poll(left):
                    order = channel.recv()
            channel.send(catch_up(hand_to_worker=False))
            if order == "finish":
                return
    finally:
        connections.close_all()
