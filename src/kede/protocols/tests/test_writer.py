"""The writer: schema-valid in the version it declares, or a precise refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from lxml import etree

from kede.protocols.iso18626 import (
    NAMESPACE,
    VERSION_1_2,
    VERSION_2021_2,
    VERSIONS,
    Action,
    ErrorType,
    Iso18626Error,
    Request,
    RequestingAgencyMessage,
    Status,
    StatusInfo,
    write,
)

from .examples import KINDS, every_kind, header, needs_shared, request, schema
from .examples import requesting_agency_message as ram
from .examples import supplying_agency_message as sam

ILL = {"ill": NAMESPACE}


@needs_shared
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_every_kind_validates_against_the_schema_of_the_version_it_declares(version, kind):
    # given a fully filled message of this kind
    message = next(m for m in every_kind(version) if type(m) is kind)

    # when it is written in this version
    document = etree.fromstring(write(message, version))

    # then the schema of that version accepts it, and the root declares that version
    schema(version).assertValid(document)
    assert document.get(f"{{{NAMESPACE}}}version") == version


@needs_shared
def test_one_document_never_validates_against_both_versions():
    # given the same request written in each version
    written = {version: etree.fromstring(write(request(version), version)) for version in VERSIONS}

    # then each is valid only in its own version (bibliographicItemId children are swapped)
    assert schema(VERSION_1_2).validate(written[VERSION_1_2])
    assert not schema(VERSION_2021_2).validate(written[VERSION_1_2])
    assert schema(VERSION_2021_2).validate(written[VERSION_2021_2])
    assert not schema(VERSION_1_2).validate(written[VERSION_2021_2])


def test_the_document_is_utf8_with_prefixed_version_and_utc_timestamps():
    # given a request whose need-before date is in Beijing time
    message = request(VERSION_1_2)

    # when written
    data = write(message)

    # then it declares UTF-8, carries ill:version, keeps Chinese as UTF-8 bytes, writes UTC
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b'ill:version="1.2"' in data
    assert "红楼梦".encode() in data
    root = etree.fromstring(data)
    assert root.findtext(".//ill:header/ill:timestamp", namespaces=ILL) == "2025-03-14T09:26:53Z"
    assert root.findtext(".//ill:needBeforeDate", namespaces=ILL) == "2025-04-01T08:00:00Z"


def test_version_1_2_writes_an_empty_multiple_item_request_id_and_2021_none():
    # given supplying agency messages outside any multiple item request
    # when written in each version
    old = etree.fromstring(write(sam(VERSION_1_2), VERSION_1_2))
    new = etree.fromstring(write(sam(VERSION_2021_2), VERSION_2021_2))

    # then 1.2 has the mandatory element, empty; the 2021 header of this kind has none
    element = old.find(".//ill:header/ill:multipleItemRequestId", ILL)
    assert element is not None
    assert element.text is None
    assert new.find(".//ill:header/ill:multipleItemRequestId", ILL) is None


def test_2021_moves_offered_costs_and_retry_dates_to_retry_info():
    # given a supplier's message offering costs
    message = sam(VERSION_2021_2)

    # when written in 2021 and in 1.2
    new = etree.fromstring(write(message, VERSION_2021_2))
    old = etree.fromstring(write(replace(message, status_info=sam(VERSION_1_2).status_info)))

    # then the costs sit in retryInfo in 2021, in messageInfo in 1.2
    assert new.findtext(".//ill:retryInfo/ill:offeredCosts/ill:monetaryValue", namespaces=ILL) == (
        "35.50"
    )
    assert new.find(".//ill:messageInfo/ill:offeredCosts", ILL) is None
    assert old.findtext(
        ".//ill:messageInfo/ill:offeredCosts/ill:monetaryValue", namespaces=ILL
    ) == ("35.50")
    assert old.findtext(".//ill:deliveryInfo/ill:sentVia", namespaces=ILL) == "Mail"
    assert new.findtext(".//ill:deliveryInfo/ill:deliveryMethod", namespaces=ILL) == "Mail"


@pytest.mark.parametrize(
    ("message", "where"),
    [
        (
            replace(sam(VERSION_2021_2), status_info=StatusInfo(status=Status.HOLD_RETURN)),
            "status",
        ),
        (replace(ram(VERSION_1_2), action=Action.LOST), "action"),
    ],
    ids=["status HoldReturn", "action Lost"],
)
def test_2021_values_are_refused_in_1_2(message, where):
    # given a message using a value only 2021 knows
    # when it is written in 1.2
    with pytest.raises(Iso18626Error) as refused:
        write(message, VERSION_1_2)

    # then the writer refuses, naming the element and the value
    assert refused.value.error_type is ErrorType.UNRECOGNISED_DATA_VALUE
    assert where in refused.value.error_value
    assert "does not exist in version 1.2" in refused.value.error_value


def test_a_request_without_supplier_is_written_in_2021_only():
    # given a request leaving the choice of supplier to a broker
    message = replace(request(VERSION_2021_2), header=header(supplying_agency_id=None))
    message = replace(message, header=replace(message.header, supplying_agency_request_id=None))

    # when written in each version
    data = write(message, VERSION_2021_2)
    with pytest.raises(Iso18626Error) as refused:
        write(message, VERSION_1_2)

    # then 2021 accepts it and 1.2 names the missing element
    assert b"supplyingAgencyId" not in data
    assert refused.value.error_type is ErrorType.UNRECOGNISED_DATA_ELEMENT
    assert refused.value.error_value == "request/header/supplyingAgencyId is missing"


def test_what_a_version_has_no_place_for_is_refused_not_dropped():
    # given a 2021 request carrying the supplier's request id, and a 2021 request without
    # serviceInfo (mandatory in 2021, optional in 1.2)
    with_supplier_id = replace(request(VERSION_2021_2), header=header())
    without_service = replace(request(VERSION_2021_2), service_info=None)

    # when written in 2021, then each is refused with the element named
    with pytest.raises(Iso18626Error, match="request/header/supplyingAgencyRequestId"):
        write(with_supplier_id, VERSION_2021_2)
    with pytest.raises(Iso18626Error, match="request/serviceInfo is missing"):
        write(without_service, VERSION_2021_2)
    assert write(without_service, VERSION_1_2)

    # and a 2021 supplying agency message has no multipleItemRequestId in its header
    grouped = replace(sam(VERSION_2021_2), header=header(multiple_item_request_id="FDU-M-7"))
    with pytest.raises(Iso18626Error, match="supplyingAgencyMessage/header/multipleItemRequestId"):
        write(grouped, VERSION_2021_2)


def test_naive_and_missing_dates_are_refused():
    # given a message whose timestamp has no zone, and one whose timestamp is unknown
    naive = RequestingAgencyMessage(
        header=header(timestamp=datetime(2025, 3, 14, 9, 0)),  # noqa: DTZ001 - the point
        action=Action.RECEIVED,
    )
    unknown = replace(naive, header=header(timestamp=None))

    # when written, then both are refused
    with pytest.raises(Iso18626Error, match="without a time zone"):
        write(naive)
    with pytest.raises(Iso18626Error, match="header/timestamp is missing"):
        write(unknown)


def test_text_xml_cannot_carry_is_refused():
    # given a note holding a NUL character
    message = replace(ram(VERSION_1_2), note="bad\x00note")

    # when written, then the writer refuses rather than emit broken XML
    with pytest.raises(Iso18626Error, match="note"):
        write(message)


def test_unknown_versions_and_non_messages_are_programming_errors():
    with pytest.raises(ValueError, match="unknown ISO 18626 version"):
        write(request(VERSION_1_2), "1.3")
    with pytest.raises(TypeError):
        write(Request, VERSION_1_2)  # type: ignore[arg-type]
