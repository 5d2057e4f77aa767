"""A whole Kede node in other processes, for tests that cross a real network.

`Node` starts `kede serve` (web + worker + scheduler) on a loopback port with its own instance
folder and database, and a driver process on the same database that performs librarians' and
readers' actions by calling the services, one JSON line per call. The test process holds no
database connection to either node: what one node learns of the other, it learns over HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

DRIVER = """
import json, sys, traceback
import django
django.setup()
from kede.ill.tests import node_actions
for line in sys.stdin:
    call = json.loads(line)
    try:
        result = getattr(node_actions, call["op"])(**call["args"])
        answer = {"ok": True, "result": result}
    except Exception as exc:
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "trace": traceback.format_exc()}
    print(json.dumps(answer, default=str), flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeError(AssertionError):
    pass


class Node:
    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "kede.settings_test",
            "KEDE_INSTANCE_DIR": str(folder),
            "KEDE_SITE_URL": self.url,
            "KEDE_ISO18626_TIMEOUT": "5",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("DATABASE_URL", None)  # each node keeps its own SQLite file
        self.log = (folder / "server.log").open("ab")
        self.server: subprocess.Popen | None = None
        subprocess.run(
            [sys.executable, "-m", "kede.cli", "migrate", "--verbosity", "0"],
            env=self.env,
            check=True,
        )
        self.driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    @property
    def iso_url(self) -> str:
        return f"{self.url}/iso18626"

    def start(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-m", "kede.cli", "serve", "--port", str(self.port), "--no-migrate"],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise NodeError(f"node {self.name} did not start; see {self.log.name}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=15)
            self.server = None

    def close(self) -> None:
        self.stop()
        if self.driver.stdin:
            self.driver.stdin.close()
        self.driver.wait(timeout=15)
        self.log.close()

    def __call__(self, op: str, **args):
        assert self.driver.stdin and self.driver.stdout
        self.driver.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.driver.stdin.flush()
        line = self.driver.stdout.readline()
        if not line:
            raise NodeError(f"node {self.name}'s driver died; see {self.log.name}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise NodeError(f"{self.name}.{op}: {answer['error']}\n{answer['trace']}")
        return answer["result"]


def eventually(check: Callable[[], object], expected: object, timeout: float = 30.0) -> None:
    """Wait until `check()` returns `expected` (messages cross in the background)."""
    deadline = time.monotonic() + timeout
    value = check()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        value = check()
    assert value == expected, f"still {value!r} after {timeout} s, wanted {expected!r}"
