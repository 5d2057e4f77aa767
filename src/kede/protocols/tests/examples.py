"""Messages for the ISO 18626 tests: realistic ones by hand, arbitrary ones from hypothesis."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from lxml import etree

from kede.protocols.iso18626 import (
    VERSION_1_2,
    VERSION_2021_2,
    Action,
    AgencyId,
    BibliographicInfo,
    BibliographicItemId,
    BibliographicRecordId,
    BillingInfo,
    ConfirmationHeader,
    DeliveryInfo,
    ElectronicAddress,
    ErrorData,
    ErrorType,
    Header,
    Message,
    MessageInfo,
    MessageStatus,
    Money,
    PatronInfo,
    PhysicalAddress,
    PublicationInfo,
    ReasonForMessage,
    Request,
    RequestConfirmation,
    RequestedDeliveryInfo,
    RequestingAgencyMessage,
    RequestingAgencyMessageConfirmation,
    RequestSubType,
    RequestType,
    ServiceInfo,
    ServiceType,
    Status,
    StatusInfo,
    SupplierInfo,
    SupplyingAgencyMessage,
    SupplyingAgencyMessageConfirmation,
)

# src/kede/protocols/tests/ -> parents[4] is the work tree, parents[5] holds shared/.
PROTOCOLS = Path(__file__).resolve().parents[5] / "shared" / "protocols" / "iso18626"
SAMPLES = PROTOCOLS / "samples"
SCHEMA_FILES = {VERSION_1_2: "ISO-18626-v1_2.xsd", VERSION_2021_2: "ISO-18626-2021-2.xsd"}

needs_shared = pytest.mark.skipif(
    not PROTOCOLS.is_dir(),
    reason=f"the shared ISO 18626 schemas and samples are not at {PROTOCOLS}",
)


@cache
def schema(version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(PROTOCOLS / SCHEMA_FILES[version])))


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


KINDS = (
    Request,
    RequestConfirmation,
    SupplyingAgencyMessage,
    SupplyingAgencyMessageConfirmation,
    RequestingAgencyMessage,
    RequestingAgencyMessageConfirmation,
)

# --- realistic messages ----------------------------------------------------------------------

FUDAN = AgencyId(type="ISIL", value="CN-200433-FDU")
WUHAN = AgencyId(type="ISIL", value="CN-430072-WHU")
SENT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


def header(**changes: Any) -> Header:
    """The header of a transaction the supplier has accepted (so it has its own id)."""
    values: dict[str, Any] = {
        "supplying_agency_id": WUHAN,
        "requesting_agency_id": FUDAN,
        "timestamp": SENT,
        "requesting_agency_request_id": "FDU-2025-000173",
        "supplying_agency_request_id": "WHU-ILL-88120",
    }
    return Header(**(values | changes))


def confirmation_header(status: MessageStatus = MessageStatus.OK) -> ConfirmationHeader:
    return ConfirmationHeader(
        supplying_agency_id=WUHAN,
        requesting_agency_id=FUDAN,
        timestamp=datetime(2025, 3, 14, 9, 26, 54, tzinfo=UTC),
        requesting_agency_request_id="FDU-2025-000173",
        timestamp_received=SENT,
        message_status=status,
    )


def request(version: str) -> Request:
    return Request(
        header=header(supplying_agency_request_id=None),
        bibliographic_info=BibliographicInfo(
            supplier_unique_record_id="whu-b1234567",
            title="红楼梦",
            author="曹雪芹",
            subtitle="脂评汇校本",
            edition="第3版",
            title_of_component="第五回 游幻境指迷十二钗",
            volume="上册",
            pages_requested="45-78",
            item_ids=(
                BibliographicItemId(code="ISBN", identifier="9787020002207"),
                BibliographicItemId(code="ISSN", identifier="1001-8867"),
                BibliographicItemId(code="DOI", identifier="10.13530/j.cnki.jlis.2023001"),
            ),
            record_ids=(
                BibliographicRecordId(code="CALIS", identifier="CAL 012008123456", scheme="CALIS"),
            ),
        ),
        publication_info=PublicationInfo(
            publisher="人民文学出版社",
            publication_type="Book",
            publication_date="2008",
            place_of_publication="北京",
        ),
        service_info=ServiceInfo(
            service_type=ServiceType.COPY_OR_LOAN,
            request_type=RequestType.NEW,
            request_sub_types=(RequestSubType.PATRON_REQUEST,),
            service_level="Normal",
            preferred_format="PDF",
            need_before_date=datetime(2025, 4, 1, 16, 0, tzinfo=BEIJING),
            copyright_compliance="CN-Copyright-Law-Art24",
            any_edition=False,
            note="读者急需，请尽快处理。",
        ),
        supplier_info=(
            SupplierInfo(
                sort_order=1,
                supplier_code=WUHAN,
                supplier_description="武汉大学图书馆",
                record_id=BibliographicRecordId(code="OPAC", identifier="b1234567"),
                call_number="I242.47/C2",
                summary_holdings="1-3",
                availability_note="在架",
            ),
        ),
        requested_delivery_info=(
            RequestedDeliveryInfo(
                sort_order=1,
                address=PhysicalAddress(
                    line1="邯郸路220号",
                    line2="复旦大学图书馆馆际互借处",
                    locality="上海",
                    postal_code="200433",
                    region="CN-SH",
                    country="CN",
                ),
            ),
            RequestedDeliveryInfo(
                sort_order=2,
                address=ElectronicAddress(type="Email", data="ill@fudan.edu.cn"),
            ),
        ),
        patron_info=PatronInfo(
            patron_id="20250173",
            surname="林",
            given_name="黛玉",
            patron_type="Postgraduate",
            send_to_patron=False,
        ),
        billing_info=BillingInfo(
            payment_method="Account",
            maximum_costs=Money(amount=Decimal("50.00"), currency="CNY"),
            billing_method="Invoice",
            billing_name="复旦大学图书馆",
        ),
    )


def supplying_agency_message(version: str) -> SupplyingAgencyMessage:
    return SupplyingAgencyMessage(
        header=header(),
        message_info=MessageInfo(
            reason_for_message=ReasonForMessage.STATUS_CHANGE,
            answer_yes_no=True,
            note="已寄出，请查收。",
            reason_retry="CostExceedsMaxCost",
            offered_costs=Money(amount=Decimal("35.50"), currency="CNY"),
            retry_after=datetime(2025, 3, 20, tzinfo=UTC),
            retry_before=datetime(2025, 4, 20, tzinfo=UTC),
        ),
        status_info=StatusInfo(
            status=Status.HOLD_RETURN if version == VERSION_2021_2 else Status.LOANED,
            expected_delivery_date=datetime(2025, 3, 18, tzinfo=UTC),
            due_date=datetime(2025, 4, 30, 23, 59, 59, tzinfo=BEIJING),
            last_change=SENT,
        ),
        delivery_info=DeliveryInfo(
            date_sent=SENT,
            item_id="39001002345678",
            delivery_method="Mail",
            sent_to_patron=False,
            loan_condition="LibraryUseOnly",
            item_format="Printed",
            delivery_costs=Money(amount=Decimal("12.00"), currency="CNY"),
        ),
    )


def requesting_agency_message(version: str) -> RequestingAgencyMessage:
    return RequestingAgencyMessage(
        header=header(),
        action=Action.LOST if version == VERSION_2021_2 else Action.RECEIVED,
        note="已收到，谢谢！",
    )


def every_kind(version: str) -> list[Message]:
    error = ErrorData(
        error_type=ErrorType.UNRECOGNISED_DATA_VALUE,
        error_value="statusInfo/status: 'Lent' is not a known Status",
    )
    return [
        request(version),
        RequestConfirmation(header=confirmation_header()),
        supplying_agency_message(version),
        SupplyingAgencyMessageConfirmation(
            header=confirmation_header(MessageStatus.ERROR),
            reason_for_message=ReasonForMessage.STATUS_CHANGE,
            error_data=error,
        ),
        requesting_agency_message(version),
        RequestingAgencyMessageConfirmation(header=confirmation_header(), action=Action.RECEIVED),
    ]


# --- arbitrary messages ------------------------------------------------------------------------

ONLY_IN_2021 = {Status.HOLD_RETURN, Status.RELEASE_HOLD_RETURN, Action.HOLD_RETURN, Action.LOST}

# Whatever XML 1.0 can carry: no controls but tab, newline and carriage return, no surrogates,
# no noncharacters.
_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs", "Cn"), include_characters="\t\n\r"
)
TEXT = st.text(_CHARS, min_size=1, max_size=12)
WORD = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8
)
# Hypothesis wants naive bounds and attaches the zones itself.
WHEN = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, BEIJING, timezone(timedelta(hours=-5))]),
).map(lambda value: value.replace(microsecond=0))
MONEY = st.builds(
    Money,
    amount=st.decimals(min_value=-(10**9), max_value=10**9, places=2),
    currency=st.sampled_from(["CNY", "USD", "EUR", "HKD"]),
)
AGENCY = st.builds(
    AgencyId, type=st.sampled_from(["ISIL", "RESHARE", "OCLC", ""]), value=TEXT | st.just("")
)


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def blank(value: Any) -> bool:
    """Nothing said at all: such a part is written as an empty element and read as absent."""
    return all(getattr(value, f.name) in (None, ()) for f in fields(value))


def _said(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy.filter(lambda value: not blank(value))


def _closed(kind: type, version: str) -> st.SearchStrategy[Any]:
    allowed = [m for m in kind if version == VERSION_2021_2 or m not in ONLY_IN_2021]
    return st.sampled_from(allowed)


def headers(version: str, kind: type) -> st.SearchStrategy[Header]:
    in_2021 = version == VERSION_2021_2
    is_request = kind is Request
    return st.builds(
        Header,
        supplying_agency_id=_opt(AGENCY) if in_2021 and is_request else AGENCY,
        requesting_agency_id=AGENCY,
        timestamp=WHEN,
        requesting_agency_request_id=TEXT | st.just(""),
        supplying_agency_request_id=st.none() if in_2021 and is_request else _opt(TEXT),
        multiple_item_request_id=st.just("") if in_2021 and not is_request else st.just("") | TEXT,
    )


def requests(version: str) -> st.SearchStrategy[Request]:
    record_id = st.builds(BibliographicRecordId, code=TEXT, identifier=TEXT, scheme=_opt(WORD))
    address = st.builds(ElectronicAddress, type=WORD, data=TEXT) | _said(
        st.builds(
            PhysicalAddress,
            line1=_opt(TEXT),
            line2=_opt(TEXT),
            locality=_opt(TEXT),
            postal_code=_opt(TEXT),
            region=_opt(TEXT),
            country=_opt(WORD),
        )
    )
    sort_order = _opt(st.integers(min_value=0 if version == VERSION_2021_2 else -5, max_value=99))
    return st.builds(
        Request,
        header=headers(version, Request),
        bibliographic_info=st.builds(
            BibliographicInfo,
            supplier_unique_record_id=_opt(TEXT),
            title=_opt(TEXT),
            author=_opt(TEXT),
            volume=_opt(TEXT),
            pages_requested=_opt(TEXT),
            item_ids=st.lists(
                st.builds(BibliographicItemId, code=WORD, identifier=TEXT), max_size=3
            ).map(tuple),
            record_ids=st.lists(record_id, max_size=2).map(tuple),
        ),
        publication_info=_opt(
            _said(
                st.builds(
                    PublicationInfo,
                    publisher=_opt(TEXT),
                    publication_type=_opt(WORD),
                    publication_date=_opt(TEXT),
                    place_of_publication=_opt(TEXT),
                )
            )
        ),
        service_info=(st.nothing() if version == VERSION_2021_2 else st.none())
        | st.builds(
            ServiceInfo,
            service_type=st.sampled_from(ServiceType),
            request_type=_opt(st.sampled_from(RequestType)),
            request_sub_types=st.lists(st.sampled_from(RequestSubType), max_size=3).map(tuple),
            service_level=_opt(WORD),
            preferred_format=_opt(WORD),
            need_before_date=_opt(WHEN),
            any_edition=_opt(st.booleans()),
            start_date=_opt(WHEN),
            note=_opt(TEXT),
        ),
        supplier_info=st.lists(
            _said(
                st.builds(
                    SupplierInfo,
                    sort_order=sort_order,
                    supplier_code=_opt(AGENCY),
                    record_id=_opt(record_id),
                    call_number=_opt(TEXT),
                )
            ),
            max_size=2,
        ).map(tuple),
        requested_delivery_info=st.lists(
            _said(st.builds(RequestedDeliveryInfo, sort_order=sort_order, address=_opt(address))),
            max_size=2,
        ).map(tuple),
        patron_info=_opt(
            _said(
                st.builds(
                    PatronInfo,
                    patron_id=_opt(TEXT),
                    surname=_opt(TEXT),
                    send_to_patron=_opt(st.booleans()),
                )
            )
        ),
        billing_info=_opt(
            _said(st.builds(BillingInfo, maximum_costs=_opt(MONEY), billing_name=_opt(TEXT)))
        ),
    )


def supplying_agency_messages(version: str) -> st.SearchStrategy[SupplyingAgencyMessage]:
    return st.builds(
        SupplyingAgencyMessage,
        header=headers(version, SupplyingAgencyMessage),
        message_info=st.builds(
            MessageInfo,
            reason_for_message=st.sampled_from(ReasonForMessage),
            answer_yes_no=_opt(st.booleans()),
            note=_opt(TEXT),
            reason_unfilled=_opt(WORD),
            reason_retry=_opt(WORD),
            offered_costs=_opt(MONEY),
            retry_after=_opt(WHEN),
            retry_before=_opt(WHEN),
        ),
        status_info=st.builds(
            StatusInfo,
            status=_closed(Status, version),
            expected_delivery_date=_opt(WHEN),
            due_date=_opt(WHEN),
            last_change=WHEN,
        ),
        delivery_info=_opt(
            st.builds(
                DeliveryInfo,
                date_sent=WHEN,
                item_id=_opt(TEXT),
                delivery_method=_opt(WORD),
                sent_to_patron=_opt(st.booleans()),
                item_format=_opt(WORD),
                delivery_costs=_opt(MONEY),
            )
        ),
    )


def requesting_agency_messages(version: str) -> st.SearchStrategy[RequestingAgencyMessage]:
    return st.builds(
        RequestingAgencyMessage,
        header=headers(version, RequestingAgencyMessage),
        action=_closed(Action, version),
        note=_opt(TEXT),
    )


def confirmations(version: str) -> st.SearchStrategy[Message]:
    confirmation_headers = st.builds(
        ConfirmationHeader,
        supplying_agency_id=_opt(AGENCY),
        requesting_agency_id=_opt(AGENCY),
        timestamp=WHEN,
        requesting_agency_request_id=_opt(TEXT),
        timestamp_received=WHEN,
        message_status=st.sampled_from(MessageStatus),
    )
    errors = _opt(
        st.builds(ErrorData, error_type=st.sampled_from(ErrorType), error_value=_opt(TEXT))
    )
    return st.one_of(
        st.builds(RequestConfirmation, header=confirmation_headers, error_data=errors),
        st.builds(
            SupplyingAgencyMessageConfirmation,
            header=confirmation_headers,
            reason_for_message=_opt(st.sampled_from(ReasonForMessage)),
            error_data=errors,
        ),
        st.builds(
            RequestingAgencyMessageConfirmation,
            header=confirmation_headers,
            action=_opt(_closed(Action, version)),
            error_data=errors,
        ),
    )


def messages(version: str) -> st.SearchStrategy[Message]:
    return st.one_of(
        requests(version),
        supplying_agency_messages(version),
        requesting_agency_messages(version),
        confirmations(version),
    )
