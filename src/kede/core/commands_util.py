"""Small helpers shared by management commands and scripts."""

from __future__ import annotations

import os
from pathlib import Path


def default_marc_dir() -> Path | None:
    """Where the demo's real records come from: KEDE_DEMO_MARC_DIR, else the shared data folder
    beside the checkout when there is one (None: use the records bundled with Kede)."""
    configured = os.environ.get("KEDE_DEMO_MARC_DIR")
    if configured:
        return Path(configured)
    beside = Path.cwd().parent / "shared" / "data" / "marc"
    return beside if beside.is_dir() else None
