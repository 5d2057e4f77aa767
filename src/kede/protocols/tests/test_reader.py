"""The reader: lenient with what peers really send, precise about what it cannot accept."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kede.protocols.iso18626 import (
    VERSION_1_2,
    VERSION_2021_2,
    VERSIONS,
    Action,
    AgencyId,
    BibliographicItemId,
    BibliographicRecordId,
    ErrorType,
    Header,
    Iso18626Error,
    Money,
    PhysicalAddress,
    ReasonForMessage,
    Request,
    RequestingAgencyMessage,
    RequestSubType,
    RequestType,
    ServiceType,
    Status,
    SupplyingAgencyMessage,
    read,
    read_with_version,
    write,
)

from .examples import KINDS, every_kind, needs_shared, sample

NS = 'xmlns="http://illtransactions.org/2013/iso18626"'
ILL_NS = 'xmlns:ill="http://illtransactions.org/2013/iso18626"'


def document(body: str, root: str = f'<ISO18626Message {NS} {ILL_NS} ill:version="1.2">') -> bytes:
    return f"<?xml version='1.0' encoding='UTF-8'?>{root}{body}</ISO18626Message>".encode()


HEADER = """<header>
  <supplyingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>CN-430072-WHU</agencyIdValue></supplyingAgencyId>
  <requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>CN-200433-FDU</agencyIdValue></requestingAgencyId>
  <multipleItemRequestId/>
  <timestamp>2025-03-14T09:26:53Z</timestamp>
  <requestingAgencyRequestId>FDU-2025-000173</requestingAgencyRequestId>
</header>"""


def refusal(data: bytes) -> Iso18626Error:
    with pytest.raises(Iso18626Error) as refused:
        read(data)
    return refused.value


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_what_is_written_reads_back_equal(version, kind):
    # given a fully filled message: Chinese text, ISIL ids, Decimal costs, Beijing-time dates
    message = next(m for m in every_kind(version) if type(m) is kind)

    # when written and read back
    read_back, declared = read_with_version(write(message, version))

    # then nothing is lost and the declared version is reported
    assert read_back == message
    assert declared == version


# --- the real ReShare (mod-rs) samples --------------------------------------------------------


@needs_shared
def test_sample_case1_request_version_1_0_without_multiple_item_request_id():
    # given an old 1.0 request: no multipleItemRequestId, fractional-second timestamps
    # when read
    message, version = read_with_version(sample("case1_request.xml"))

    # then it is a request with what it really says
    assert isinstance(message, Request)
    assert version == "1.0"
    assert message.header.supplying_agency_id == AgencyId(type="RESHARE", value="TEMPLEI")
    assert message.header.requesting_agency_id == AgencyId(type="RESHARE", value="MILL")
    assert message.header.timestamp == datetime(2014, 3, 17, 9, 30, 47, tzinfo=UTC)
    assert message.header.multiple_item_request_id == ""
    assert message.bibliographic_info.supplier_unique_record_id == "27345786"
    assert message.service_info is not None
    assert message.service_info.service_type is ServiceType.LOAN
    assert message.service_info.service_level == "Normal"
    assert message.service_info.any_edition is True


@needs_shared
def test_sample_iso18626_req_1():
    message = read(sample("iso18626_req_1.xml"))

    assert isinstance(message, Request)
    assert message.header.supplying_agency_id == AgencyId(type="RESHARE", value="KNOWINT01")
    assert message.header.requesting_agency_request_id == "49837539"
    assert message.service_info is not None
    assert message.service_info.need_before_date == datetime(2014, 5, 1, tzinfo=UTC)


@needs_shared
def test_sample_illmock_request_with_comments_year_one_and_1_2_item_id_order():
    message = read(sample("illmockrequest.xml"))

    assert isinstance(message, Request)
    assert message.header.timestamp == datetime(1, 1, 1, tzinfo=UTC)
    info = message.bibliographic_info
    assert info.supplier_unique_record_id == "LOANED"
    assert info.title == "Layered of the Rungs"
    assert info.item_ids == (BibliographicItemId(code="ISBN", identifier="1884"),)
    assert info.item_id("isbn") == "1884"
    assert info.record_ids == (
        BibliographicRecordId(code="patronReference", identifier="ref-33-44-55", scheme="RESHARE"),
    )
    assert message.service_info is not None
    assert message.service_info.request_sub_types == (RequestSubType.PATRON_REQUEST,)
    assert message.service_info.note == "#CANCEL#"
    assert message.supplier_info == ()  # commented out in the sample


@needs_shared
@pytest.mark.parametrize("name", ["patronRequest.xml", "patronRequestRetry.xml"])
def test_sample_patron_requests_without_supplier_with_2021_elements_out_of_order(name):
    # given ReShare patron requests: no supplyingAgencyId, 2021's authorId and Code-first
    # bibliographicItemId in a 1.2 message, patronInfo before requestedDeliveryInfo, a crowd
    # of empty elements
    # when read
    message = read(sample(name))

    # then they are requests and the empty elements count as absent
    assert isinstance(message, Request)
    assert message.header.supplying_agency_id is None
    assert message.header.timestamp == datetime(2023, 11, 16, 12, 32, 11, 56000, tzinfo=UTC)
    info = message.bibliographic_info
    assert (info.title, info.author, info.subtitle) == ("Lord of the Rings", "J.R.R. Tolkien", None)
    assert info.item_id("ISBN") == "12321312"
    assert [(r.scheme, r.code, r.identifier) for r in info.record_ids] == [
        ("ZFL", "TitelId", "in00000000002"),
        ("ZFL", "BsTyp2", "L"),
        ("ZFL", "MedTyp", "ml"),
    ]
    assert message.service_info is not None
    assert message.service_info.need_before_date is None  # <needBeforeDate></needBeforeDate>
    assert message.patron_info is not None
    assert message.patron_info.patron_id == "patronId_holder"
    assert message.patron_info.surname is None
    (delivery,) = message.requested_delivery_info
    assert delivery.address == PhysicalAddress(line1="RSSlnpOne")


@needs_shared
def test_sample_patron_request_retry_differs_in_request_type_and_empty_agency_value():
    first = read(sample("patronRequest.xml"))
    retry = read(sample("patronRequestRetry.xml"))

    assert isinstance(first, Request)
    assert isinstance(retry, Request)
    assert first.service_info is not None
    assert retry.service_info is not None
    assert first.service_info.request_type is RequestType.NEW
    assert retry.service_info.request_type is RequestType.RETRY
    assert retry.header.requesting_agency_id == AgencyId(type="ISIL", value="")


@needs_shared
@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("statusChangeExpectToSupplyTemplate.xml", Status.EXPECT_TO_SUPPLY),
        ("statusChangeUnfilledTemplate.xml", Status.UNFILLED),
    ],
)
def test_sample_templates_without_namespace_and_with_placeholder_dates(name, status):
    # given mod-rs templates: no namespace, version="", "_TIMESTAMP_" for every date
    # when read
    message, version = read_with_version(sample(name))

    # then they are status changes whose unreadable dates are None
    assert isinstance(message, SupplyingAgencyMessage)
    assert version == ""
    assert message.header.supplying_agency_id == AgencyId(type="ISIL", value="_SUPPLY_AGENCY_ID_")
    assert message.header.requesting_agency_request_id == "_REQUEST_ID_"
    assert message.header.timestamp is None
    assert message.message_info.reason_for_message is ReasonForMessage.STATUS_CHANGE
    assert message.status_info is not None
    assert message.status_info.status is status
    assert message.status_info.last_change is None


@needs_shared
def test_sample_cancel_response_no_without_status_info():
    # given mod-rs's "No" to a cancel: prefixed elements, no statusInfo (mandatory), empty
    # reasonUnfilled/reasonRetry/loanCondition, an empty returnInfo, sentToPatron "false"
    # when read
    message = read(sample("cancelResponseReplyNoTemplate.xml"))

    # then it is a cancel response saying no, with no status
    assert isinstance(message, SupplyingAgencyMessage)
    assert message.message_info.reason_for_message is ReasonForMessage.CANCEL_RESPONSE
    assert message.message_info.answer_yes_no is False
    assert message.message_info.reason_unfilled is None
    assert message.status_info is None
    assert message.header.supplying_agency_request_id == "_REQUEST_ID_"
    assert message.delivery_info is not None
    assert message.delivery_info.sent_to_patron is False
    assert message.delivery_info.date_sent is None


@needs_shared
def test_sample_unfilled_notification_with_unprefixed_version_and_no_last_change():
    message, version = read_with_version(sample("unfilledNotification.xml"))

    assert isinstance(message, SupplyingAgencyMessage)
    assert version == "1.0"
    assert message.message_info.reason_for_message is ReasonForMessage.NOTIFICATION
    assert message.message_info.note == "can't find it after all"
    assert message.status_info is not None
    assert message.status_info.status is Status.UNFILLED
    assert message.status_info.last_change is None
    assert message.delivery_info is None  # only an empty loanCondition in it


@needs_shared
def test_sample_with_a_status_placeholder_is_refused_but_answerable():
    # given the one sample that is really not a message: <status>status_holder</status>
    # when read
    with pytest.raises(Iso18626Error) as refused:
        read(sample("supplyingAgencyMessage_statusChange.xml"))

    # then the closed list holds: the value is refused, named, and the refusal still knows
    # the kind and header, so the endpoint can answer with the right confirmation
    error = refused.value
    assert error.error_type is ErrorType.UNRECOGNISED_DATA_VALUE
    assert error.error_value == (
        "supplyingAgencyMessage/statusInfo/status: 'status_holder' is not a known Status"
    )
    assert error.kind == "supplyingAgencyMessage"
    assert isinstance(error.header, Header)
    assert error.header.timestamp == datetime(2023, 10, 4, 15, 22, 0, 543778, tzinfo=UTC)
    assert error.header.supplying_agency_request_id == "requestId_holder"


# --- leniency ------------------------------------------------------------------------------


def test_any_order_unknown_elements_and_foreign_namespaces_are_accepted():
    # given a message with its parts reversed, an unknown element and a foreign extension
    body = f"""<requestingAgencyMessage>
      <note>  已归还  </note>
      <kedeExtension>ignored</kedeExtension>
      <x:trace xmlns:x="urn:example:trace"><action>Cancel</action></x:trace>
      <action> ShippedReturn </action>
      {HEADER}
    </requestingAgencyMessage>"""

    # when read
    message = read(document(body))

    # then the known parts are read (free text verbatim, closed values trimmed)
    assert isinstance(message, RequestingAgencyMessage)
    assert message.action is Action.SHIPPED_RETURN
    assert message.note == "  已归还  "
    assert message.header.requesting_agency_id == AgencyId(type="ISIL", value="CN-200433-FDU")


def test_2021_layout_is_read_from_a_1_2_declaration_and_vice_versa():
    # given a "1.2" message in 2021 layout: retryInfo, deliveryMethod, itemFormat
    body = f"""<supplyingAgencyMessage>{HEADER}
      <messageInfo><reasonForMessage>RequestResponse</reasonForMessage>
        <answerYesNo>N</answerYesNo><reasonRetry>CostExceedsMaxCost</reasonRetry></messageInfo>
      <statusInfo><status>RetryPossible</status><lastChange>2025-03-14T17:26:53+08:00</lastChange></statusInfo>
      <retryInfo><offeredCosts><currencyCode>CNY</currencyCode><monetaryValue>80.00</monetaryValue></offeredCosts>
        <retryAfter>2025-03-20</retryAfter></retryInfo>
      <deliveryInfo><dateSent>2025-03-14T09:26:53</dateSent><deliveryMethod>Email</deliveryMethod>
        <itemFormat>PDF</itemFormat><sentToPatron>1</sentToPatron></deliveryInfo>
    </supplyingAgencyMessage>"""

    # when read
    message = read(document(body))

    # then the version-neutral model holds every value, dates in UTC
    assert isinstance(message, SupplyingAgencyMessage)
    assert message.message_info.offered_costs == Money(amount=Decimal("80.00"), currency="CNY")
    assert message.message_info.retry_after == datetime(2025, 3, 20, tzinfo=UTC)
    assert message.status_info is not None
    assert message.status_info.last_change == datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert message.delivery_info is not None
    assert message.delivery_info.delivery_method == "Email"
    assert message.delivery_info.item_format == "PDF"
    assert message.delivery_info.sent_to_patron is True
    assert message.delivery_info.date_sent == datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


def test_the_size_limit_is_a_parameter():
    # given a valid message of some size
    data = write(every_kind(VERSION_2021_2)[4], VERSION_2021_2)

    # when read with a limit below and at its size
    with pytest.raises(Iso18626Error, match="over the limit") as refused:
        read(data, max_bytes=len(data) - 1)

    # then only the smaller limit refuses it, before any parsing
    assert refused.value.error_type is ErrorType.BADLY_FORMED_MESSAGE
    assert isinstance(read(data, max_bytes=len(data)), RequestingAgencyMessage)


# --- precise refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected", "says"),
    [
        (b"", ErrorType.BADLY_FORMED_MESSAGE, "not well-formed XML"),
        (b"\x89PNG\r\n\x1a\n", ErrorType.BADLY_FORMED_MESSAGE, "not well-formed XML"),
        (b"<ISO18626Message><request>", ErrorType.BADLY_FORMED_MESSAGE, "not well-formed XML"),
        (
            f"<NCIPMessage {NS}/>".encode(),
            ErrorType.BADLY_FORMED_MESSAGE,
            "the root element is 'NCIPMessage'",
        ),
        (
            b'<ISO18626Message xmlns="http://illtransactions.org/2009/iso18626"/>',
            ErrorType.BADLY_FORMED_MESSAGE,
            "namespace 'http://illtransactions.org/2009/iso18626'",
        ),
        (document(""), ErrorType.BADLY_FORMED_MESSAGE, "exactly one message element, found none"),
        (
            document("<requestingAgencyMessage><action>Cancel</action></requestingAgencyMessage>"),
            ErrorType.UNRECOGNISED_DATA_ELEMENT,
            "requestingAgencyMessage/header is missing",
        ),
        (
            document(
                f"<supplyingAgencyMessage>{HEADER}<messageInfo><reasonForMessage>StatusChange"
                "</reasonForMessage></messageInfo><statusInfo><status>Lent</status>"
                "</statusInfo></supplyingAgencyMessage>"
            ),
            ErrorType.UNRECOGNISED_DATA_VALUE,
            "supplyingAgencyMessage/statusInfo/status: 'Lent' is not a known Status",
        ),
        (
            document(f"<requestingAgencyMessage>{HEADER}</requestingAgencyMessage>"),
            ErrorType.UNRECOGNISED_DATA_ELEMENT,
            "requestingAgencyMessage/action is missing",
        ),
        (
            document(f"<request>{HEADER}</request>"),
            ErrorType.UNRECOGNISED_DATA_ELEMENT,
            "request/bibliographicInfo is missing",
        ),
        (
            document(
                f"<request>{HEADER}<bibliographicInfo/><supplierInfo><sortOrder>一</sortOrder>"
                "</supplierInfo></request>"
            ),
            ErrorType.UNRECOGNISED_DATA_VALUE,
            "request/supplierInfo/sortOrder: '一' is not an integer",
        ),
        (
            document(
                f"<request>{HEADER}<bibliographicInfo/><billingInfo><maximumCosts>"
                "<currencyCode>CNY</currencyCode><monetaryValue>NaN</monetaryValue>"
                "</maximumCosts></billingInfo></request>"
            ),
            ErrorType.UNRECOGNISED_DATA_VALUE,
            "maximumCosts/monetaryValue: 'NaN' is not a decimal",
        ),
        (
            document(
                "<requestConfirmation><confirmationHeader><timestamp>2025-03-14T09:26:53Z"
                "</timestamp><messageStatus>Fine</messageStatus></confirmationHeader>"
                "</requestConfirmation>"
            ),
            ErrorType.UNRECOGNISED_DATA_VALUE,
            "'Fine' is not a known MessageStatus",
        ),
    ],
    ids=[
        "empty",
        "binary",
        "truncated",
        "wrong root",
        "wrong namespace",
        "no message",
        "missing header",
        "unknown status",
        "missing action",
        "missing bibliographicInfo",
        "non-ASCII digits",
        "NaN cost",
        "unknown message status",
    ],
)
def test_what_cannot_be_accepted_is_refused_precisely(data, expected, says):
    # given a document the reader cannot accept
    # when read
    error = refusal(data)

    # then the error type is the standard's and the value says what and where
    assert error.error_type is expected
    assert says in error.error_value


def test_a_header_missing_its_requester_is_refused_with_the_kind_known():
    body = """<request><header><timestamp>2025-03-14T09:26:53Z</timestamp>
      <requestingAgencyRequestId>R1</requestingAgencyRequestId></header>
      <bibliographicInfo/></request>"""

    error = refusal(document(body))

    assert error.error_type is ErrorType.UNRECOGNISED_DATA_ELEMENT
    assert error.error_value == "request/header/requestingAgencyId is missing"
    assert error.kind == "request"
    assert error.header is None


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE ISO18626Message [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626"><requestingAgencyMessage>
<note>&lol9;</note></requestingAgencyMessage></ISO18626Message>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE ISO18626Message [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626"><requestingAgencyMessage>
<note>&secret;</note></requestingAgencyMessage></ISO18626Message>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ISO18626Message SYSTEM "http://127.0.0.1:9/iso18626.dtd">
<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626"/>"""


@pytest.mark.parametrize(
    "data", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["laughs", "SYSTEM", "DTD"]
)
def test_documents_with_a_doctype_or_entities_are_refused(data):
    # given a document declaring a DTD or entities
    # when read
    error = refusal(data)

    # then it is refused as badly formed, whatever the entities would have expanded to
    assert error.error_type is ErrorType.BADLY_FORMED_MESSAGE
    assert "DOCTYPE" in error.error_value


def test_a_doctype_hidden_from_the_byte_search_is_still_refused():
    # given the external-entity attack in UTF-16, where b"<!DOCTYPE" does not appear
    data = EXTERNAL_ENTITY.decode().replace('<?xml version="1.0"?>', "").encode("utf-16")

    # when read, then the check after parsing refuses it
    error = refusal(data)
    assert error.error_type is ErrorType.BADLY_FORMED_MESSAGE
    assert "DOCTYPE" in error.error_value


def test_a_2021_value_is_read_whatever_the_declared_version():
    # given a message declaring 1.2 that uses 2021's action Lost
    body = f"<requestingAgencyMessage>{HEADER}<action>Lost</action></requestingAgencyMessage>"

    # when read
    message, version = read_with_version(document(body))

    # then the value is accepted: the reader does not police the declared version
    assert version == VERSION_1_2
    assert isinstance(message, RequestingAgencyMessage)
    assert message.action is Action.LOST
