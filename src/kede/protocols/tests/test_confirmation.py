"""Every message gets an answer: the right confirmation kind, echoing its header."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from lxml import etree

from kede.protocols.iso18626 import (
    VERSION_1_2,
    VERSIONS,
    Action,
    ErrorData,
    ErrorType,
    Iso18626Error,
    MessageStatus,
    ReasonForMessage,
    RequestConfirmation,
    RequestingAgencyMessageConfirmation,
    SupplyingAgencyMessageConfirmation,
    confirmation_for,
    confirmation_for_error,
    read,
    write,
)

from .examples import (
    FUDAN,
    SENT,
    WUHAN,
    header,
    needs_shared,
    request,
    requesting_agency_message,
    sample,
    schema,
    supplying_agency_message,
)

NOW = datetime(2025, 3, 14, 9, 26, 54, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (request(VERSION_1_2), RequestConfirmation),
        (supplying_agency_message(VERSION_1_2), SupplyingAgencyMessageConfirmation),
        (requesting_agency_message(VERSION_1_2), RequestingAgencyMessageConfirmation),
    ],
    ids=["request", "supplyingAgencyMessage", "requestingAgencyMessage"],
)
def test_each_message_gets_its_own_kind_of_confirmation_echoing_the_header(message, kind):
    # given an incoming message from Fudan (requester) about a Wuhan (supplier) loan
    # when it is confirmed
    confirmation = confirmation_for(message, MessageStatus.OK, now=NOW)

    # then the confirmation kind matches, the agency ids keep their roles, the requester's id
    # is repeated, timestampReceived is the message's timestamp and timestamp is now
    assert type(confirmation) is kind
    assert confirmation.header.supplying_agency_id == WUHAN
    assert confirmation.header.requesting_agency_id == FUDAN
    assert confirmation.header.requesting_agency_request_id == "FDU-2025-000173"
    assert confirmation.header.timestamp_received == SENT
    assert confirmation.header.timestamp == NOW
    assert confirmation.header.message_status is MessageStatus.OK
    assert confirmation.error_data is None


def test_confirmations_echo_the_reason_or_the_action():
    sam = confirmation_for(supplying_agency_message(VERSION_1_2), MessageStatus.OK, now=NOW)
    ram = confirmation_for(requesting_agency_message(VERSION_1_2), MessageStatus.OK, now=NOW)

    assert isinstance(sam, SupplyingAgencyMessageConfirmation)
    assert sam.reason_for_message is ReasonForMessage.STATUS_CHANGE
    assert isinstance(ram, RequestingAgencyMessageConfirmation)
    assert ram.action is Action.RECEIVED


@needs_shared
@pytest.mark.parametrize("version", VERSIONS)
def test_an_error_confirmation_is_schema_valid(version):
    # given a request Kede cannot serve
    error = ErrorData(error_type=ErrorType.UNSUPPORTED_ACTION_TYPE, error_value="本馆不提供该服务")

    # when it is confirmed with an error and written
    confirmation = confirmation_for(request(version), MessageStatus.ERROR, error, now=NOW)
    document = etree.fromstring(write(confirmation, version))

    # then the schema accepts it and it reads back equal
    schema(version).assertValid(document)
    assert read(write(confirmation, version)) == confirmation


def test_an_unreadable_timestamp_is_answered_with_the_time_of_arrival():
    message = replace(request(VERSION_1_2), header=header(timestamp=None))

    confirmation = confirmation_for(message, MessageStatus.OK, now=NOW)

    assert confirmation.header.timestamp_received == NOW


def test_confirmations_are_not_confirmed_and_ok_carries_no_error():
    confirmation = confirmation_for(request(VERSION_1_2), MessageStatus.OK, now=NOW)
    with pytest.raises(TypeError):
        confirmation_for(confirmation, MessageStatus.OK)
    with pytest.raises(ValueError, match="OK confirmation carries no errorData"):
        confirmation_for(
            request(VERSION_1_2),
            MessageStatus.OK,
            ErrorData(error_type=ErrorType.BADLY_FORMED_MESSAGE),
        )


@needs_shared
def test_a_refused_message_is_still_answered_with_the_right_kind():
    # given the sample whose status is a placeholder
    with pytest.raises(Iso18626Error) as refused:
        read(sample("supplyingAgencyMessage_statusChange.xml"))

    # when the refusal is turned into a confirmation
    confirmation = confirmation_for_error(refused.value, now=NOW)

    # then it is an ERROR supplyingAgencyMessageConfirmation echoing what could be read
    assert isinstance(confirmation, SupplyingAgencyMessageConfirmation)
    assert confirmation.header.message_status is MessageStatus.ERROR
    assert confirmation.header.requesting_agency_request_id == "requestId_holder"
    assert confirmation.error_data == refused.value.error_data
    schema(VERSION_1_2).assertValid(etree.fromstring(write(confirmation)))


def test_a_message_of_unknown_kind_gets_no_confirmation():
    # given bytes that are not XML at all
    with pytest.raises(Iso18626Error) as refused:
        read(b"GET / HTTP/1.1")

    # then there is no right kind to answer with: the endpoint answers HTTP 400
    assert refused.value.kind is None
    assert confirmation_for_error(refused.value) is None
