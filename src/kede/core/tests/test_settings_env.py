"""Settings read from the environment: what a deployer sets is what the database gets."""

import sqlite3

import pytest

from kede import env
from kede.settings import _database


def _pragma_after_connect(config: dict, pragma: str) -> int:
    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(config["OPTIONS"]["init_command"])
        return connection.execute(f"PRAGMA {pragma}").fetchone()[0]
    finally:
        connection.close()


def test_sqlite_gets_a_64_mb_page_cache_by_default(monkeypatch):
    monkeypatch.delenv("KEDE_SQLITE_CACHE_MB", raising=False)
    config = _database("sqlite:///kede.sqlite3")
    assert _pragma_after_connect(config, "cache_size") == -64 * 1024


def test_sqlite_cache_size_is_taken_from_the_environment(monkeypatch):
    monkeypatch.setenv("KEDE_SQLITE_CACHE_MB", "256")
    config = _database("sqlite:///kede.sqlite3")
    assert _pragma_after_connect(config, "cache_size") == -256 * 1024
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [("lots", "is not an integer"), ("0", "below its minimum, 1"), ("-5", "below its minimum")],
)
def test_a_cache_size_that_makes_no_sense_is_refused_by_name(monkeypatch, raw, complaint):
    monkeypatch.setenv("KEDE_SQLITE_CACHE_MB", raw)
    with pytest.raises(env.EnvError, match="KEDE_SQLITE_CACHE_MB") as refused:
        _database("sqlite:///kede.sqlite3")
    assert complaint in str(refused.value)


def test_postgres_gets_no_sqlite_pragmas(monkeypatch):
    monkeypatch.setenv("KEDE_SQLITE_CACHE_MB", "lots")
    config = _database("postgres://kede@127.0.0.1:5432/kede")
    assert "init_command" not in config.get("OPTIONS", {})
