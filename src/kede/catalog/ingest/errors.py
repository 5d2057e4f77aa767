"""The ingest package's exceptions: one base class that all others extend (as pymarc does).

Readers and the pipeline never raise for bad *data*: a bad record or file becomes a rejection
with its reason. These exceptions are for bad *configuration* (a field mapping or scope rule
that does not validate) and for misuse of the API.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of everything this package raises."""


class ConfigError(IngestError):
    """A configuration (field mapping, scope rule) that does not validate. `errors` lists every
    problem found, each naming the setting it is about, so a form can show them all at once."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


class MappingError(ConfigError):
    """A field mapping that does not validate."""


class ScopeError(ConfigError):
    """A scope rule that does not validate."""
