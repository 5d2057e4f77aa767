"""The one exception of the ISO 18626 library.

It carries the standard's own error vocabulary (errorType, errorValue), so whoever catches it
can put it straight into the errorData of a confirmation. The reader raises it for what it cannot
accept; the writer raises it for a message the version asked for cannot say (the error is the one
the peer would have answered).
"""

from __future__ import annotations

from .models import ConfirmationHeader, ErrorData, ErrorType, Header


class Iso18626Error(Exception):
    def __init__(self, error_type: ErrorType, error_value: str) -> None:
        super().__init__(f"{error_type}: {error_value}")
        self.error_type = error_type
        self.error_value = error_value
        # What the reader had understood before it stopped, so the refusal can still be sent
        # as the right kind of confirmation, echoing the header: the element name of the
        # message ("request", …) and its header, when they were readable.
        self.kind: str | None = None
        self.header: Header | ConfirmationHeader | None = None

    @property
    def error_data(self) -> ErrorData:
        return ErrorData(error_type=self.error_type, error_value=self.error_value)
