"""Answering a message: every message is confirmed, on the same connection, at once.

A confirmation only acknowledges receipt (the business answer comes later as a message of its
own). It echoes the header of what it confirms: the agency ids keep their roles, because they
name the supplier and the requester, not the sender and the receiver; the requesting agency's
request id is repeated; timestampReceived is the timestamp of the message confirmed, and
timestamp is now.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import Iso18626Error
from .models import (
    Confirmation,
    ConfirmationHeader,
    ErrorData,
    Header,
    Message,
    MessageStatus,
    Request,
    RequestConfirmation,
    RequestingAgencyMessage,
    RequestingAgencyMessageConfirmation,
    SupplyingAgencyMessage,
    SupplyingAgencyMessageConfirmation,
)


def confirmation_for(
    message: Message,
    status: MessageStatus,
    error: ErrorData | None = None,
    *,
    now: datetime | None = None,
) -> Confirmation:
    """The confirmation of the right kind for `message`: OK, or ERROR with `error`."""
    if error is not None and status is MessageStatus.OK:
        raise ValueError("an OK confirmation carries no errorData")
    header = _echo(_header_of(message), status, now)
    match message:
        case Request():
            return RequestConfirmation(header=header, error_data=error)
        case SupplyingAgencyMessage():
            return SupplyingAgencyMessageConfirmation(
                header=header,
                reason_for_message=message.message_info.reason_for_message,
                error_data=error,
            )
        case RequestingAgencyMessage():
            return RequestingAgencyMessageConfirmation(
                header=header, action=message.action, error_data=error
            )
    raise TypeError(f"a {type(message).__name__} is not confirmed")


def confirmation_for_error(
    error: Iso18626Error, *, now: datetime | None = None
) -> Confirmation | None:
    """The ERROR confirmation for a message the reader refused, or None.

    None when the reader never learned what kind of message it was (not XML, wrong root):
    there is no right kind to answer with, and the caller answers with HTTP 400 instead.
    Also None for a refused confirmation: confirmations are not confirmed.
    """
    header = error.header if isinstance(error.header, Header) else None
    confirmation_header = _echo(header, MessageStatus.ERROR, now)
    data = error.error_data
    match error.kind:
        case "request":
            return RequestConfirmation(header=confirmation_header, error_data=data)
        case "supplyingAgencyMessage":
            return SupplyingAgencyMessageConfirmation(header=confirmation_header, error_data=data)
        case "requestingAgencyMessage":
            return RequestingAgencyMessageConfirmation(header=confirmation_header, error_data=data)
    return None


def _header_of(message: Message) -> Header:
    header = message.header
    if not isinstance(header, Header):
        raise TypeError(f"a {type(message).__name__} is not confirmed")
    return header


def _echo(header: Header | None, status: MessageStatus, now: datetime | None) -> ConfirmationHeader:
    now = now or datetime.now(UTC)
    if header is None:
        return ConfirmationHeader(
            supplying_agency_id=None,
            requesting_agency_id=None,
            timestamp=now,
            requesting_agency_request_id=None,
            timestamp_received=now,
            message_status=status,
        )
    return ConfirmationHeader(
        supplying_agency_id=header.supplying_agency_id,
        requesting_agency_id=header.requesting_agency_id,
        timestamp=now,
        requesting_agency_request_id=header.requesting_agency_request_id or None,
        # Mandatory: when the peer's own timestamp was unreadable, the time it arrived.
        timestamp_received=header.timestamp or now,
        message_status=status,
    )
