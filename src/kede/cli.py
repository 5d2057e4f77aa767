"""The `kede` command: Django's management commands with Kede's settings preselected.

`kede serve`, `kede web`, `kede worker`, `kede scheduler`, `kede demo`, `kede consortium …`,
`kede catalog …` and every stock Django command (`kede migrate`, `kede createsuperuser`).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kede.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kede", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
