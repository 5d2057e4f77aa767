"""Writing ISO 18626 messages: one declared version, schema-valid, nothing else.

The two schemas differ in more than new elements: 2021 gives each message its own header (a
request's may omit the supplier; only a request may carry multipleItemRequestId), swaps the
children of bibliographicItemId, moves offeredCosts and the retry dates into retryInfo, renames
sentVia, deliveredFormat and preferredFormat, and requires serviceInfo. Every element below is
written in the order its schema's sequence demands.

A message that the version asked for cannot say (a 2021-only status in 1.2, a request without a
supplier in 1.2, a missing mandatory date) raises Iso18626Error rather than being written
invalid or silently trimmed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from .errors import Iso18626Error
from .models import (
    NAMESPACE,
    VERSION_1_2,
    VERSION_2021_2,
    VERSIONS,
    Action,
    Address,
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
    Money,
    PatronInfo,
    PublicationInfo,
    Request,
    RequestConfirmation,
    RequestedDeliveryInfo,
    RequestingAgencyMessage,
    RequestingAgencyMessageConfirmation,
    ServiceInfo,
    Status,
    SupplierInfo,
    SupplyingAgencyMessage,
    SupplyingAgencyMessageConfirmation,
)

# Closed-list values the 1.2 schema does not have: Status HoldReturn and ReleaseHoldReturn,
# Action HoldReturn and Lost.
ONLY_IN_2021 = frozenset({"HoldReturn", "ReleaseHoldReturn", "Lost"})
_MAX_SUB_TYPES_1_2 = 3

_NO_ELEMENT = ErrorType.UNRECOGNISED_DATA_ELEMENT
_BAD_VALUE = ErrorType.UNRECOGNISED_DATA_VALUE

_Element = etree._Element


def write(message: Message, version: str = VERSION_1_2) -> bytes:
    """`message` as a UTF-8 ISO18626Message document declaring `version` ("1.2" or "2021-2")."""
    if version not in VERSIONS:
        raise ValueError(f"unknown ISO 18626 version {version!r}; known: {', '.join(VERSIONS)}")
    write_body = _WRITERS.get(type(message))
    if write_body is None:
        raise TypeError(f"not an ISO 18626 message: {type(message).__name__}")
    root = etree.Element(_q("ISO18626Message"), nsmap={"ill": NAMESPACE})
    root.set(_q("version"), version)
    write_body(_W(version), root, message)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


class _W:
    """The version being written, and the small rules every element follows."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.v2021 = version == VERSION_2021_2

    def el(self, parent: _Element, name: str, text: str | None = None) -> _Element:
        child = etree.SubElement(parent, _q(name))
        if text is not None:
            try:
                child.text = text
            except ValueError:  # NUL, most control characters: XML 1.0 cannot carry them
                raise Iso18626Error(
                    _BAD_VALUE, f"{name}: {text[:80]!r} holds characters XML cannot carry"
                ) from None
        return child

    def opt(self, parent: _Element, name: str, text: str | None) -> None:
        """An optional element: absent when there is nothing to say (None or empty)."""
        if text:
            self.el(parent, name, text)

    def closed(self, value: str, path: str) -> str:
        if not self.v2021 and value in ONLY_IN_2021:
            raise Iso18626Error(_BAD_VALUE, f"{path}: {value} does not exist in version 1.2")
        return str(value)

    def no_place(self, path: str) -> Iso18626Error:
        return Iso18626Error(_NO_ELEMENT, f"{path}: version {self.version} has no place for it")

    def when(self, parent: _Element, name: str, value: datetime | None, path: str) -> None:
        """A mandatory date, as YYYY-MM-DDThh:mm:ssZ in UTC."""
        if value is None:
            raise Iso18626Error(_NO_ELEMENT, f"{path}/{name} is missing")
        if value.utcoffset() is None:
            raise Iso18626Error(_BAD_VALUE, f"{path}/{name}: a date without a time zone")
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            raise Iso18626Error(_BAD_VALUE, f"{path}/{name}: out of range in UTC") from None
        self.el(parent, name, utc.replace(tzinfo=None, microsecond=0).isoformat() + "Z")

    def opt_when(self, parent: _Element, name: str, value: datetime | None, path: str) -> None:
        if value is not None:
            self.when(parent, name, value, path)

    def yes_no(self, parent: _Element, name: str, value: bool | None) -> None:
        if value is not None:
            self.el(parent, name, "Y" if value else "N")

    def costs(self, parent: _Element, name: str, money: Money | None, path: str) -> None:
        if money is None:
            return
        if not isinstance(money.amount, Decimal) or not money.amount.is_finite():
            raise Iso18626Error(_BAD_VALUE, f"{path}/{name}: {money.amount!r} is not an amount")
        costs = self.el(parent, name)
        self.el(costs, "currencyCode", money.currency)
        self.el(costs, "monetaryValue", format(money.amount, "f"))

    def agency(self, parent: _Element, name: str, agency: AgencyId | None) -> None:
        if agency is not None:
            el = self.el(parent, name)
            self.el(el, "agencyIdType", agency.type)
            self.el(el, "agencyIdValue", agency.value)

    def sort_order(self, parent: _Element, value: int | None, path: str) -> None:
        if value is None:
            return
        if self.v2021 and value < 0:
            raise Iso18626Error(_BAD_VALUE, f"{path}/sortOrder: {value} is negative")
        self.el(parent, "sortOrder", str(value))

    def record_id(self, parent: _Element, record: BibliographicRecordId) -> None:
        el = self.el(parent, "bibliographicRecordId")
        code = self.el(el, "bibliographicRecordIdentifierCode", record.code)
        if record.scheme:
            code.set(_q("scheme"), record.scheme)
        self.el(el, "bibliographicRecordIdentifier", record.identifier)


# --- headers -------------------------------------------------------------------------------


def _header(w: _W, parent: _Element, header: Header, kind: str) -> None:
    path = f"{kind}/header"
    el = w.el(parent, "header")
    if header.supplying_agency_id is None and (not w.v2021 or kind != "request"):
        raise Iso18626Error(_NO_ELEMENT, f"{path}/supplyingAgencyId is missing")
    w.agency(el, "supplyingAgencyId", header.supplying_agency_id)
    w.agency(el, "requestingAgencyId", header.requesting_agency_id)
    if not w.v2021:
        w.el(
            el, "multipleItemRequestId", header.multiple_item_request_id
        )  # mandatory, may be empty
    elif header.multiple_item_request_id:
        if kind != "request":
            raise w.no_place(f"{path}/multipleItemRequestId")
        w.el(el, "multipleItemRequestId", header.multiple_item_request_id)
    w.when(el, "timestamp", header.timestamp, path)
    w.el(el, "requestingAgencyRequestId", header.requesting_agency_request_id)
    if header.supplying_agency_request_id:
        if w.v2021 and kind == "request":
            raise w.no_place(f"{path}/supplyingAgencyRequestId")
        w.el(el, "supplyingAgencyRequestId", header.supplying_agency_request_id)


def _confirmation_header(w: _W, parent: _Element, header: ConfirmationHeader, kind: str) -> None:
    path = f"{kind}/confirmationHeader"
    el = w.el(parent, "confirmationHeader")
    w.agency(el, "supplyingAgencyId", header.supplying_agency_id)
    w.agency(el, "requestingAgencyId", header.requesting_agency_id)
    w.when(el, "timestamp", header.timestamp, path)
    w.opt(el, "requestingAgencyRequestId", header.requesting_agency_request_id)
    w.when(el, "timestampReceived", header.timestamp_received, path)
    w.el(el, "messageStatus", str(header.message_status))


def _error_data(w: _W, parent: _Element, error: ErrorData | None) -> None:
    if error is not None:
        el = w.el(parent, "errorData")
        w.el(el, "errorType", str(error.error_type))
        w.opt(el, "errorValue", error.error_value)


# --- request -------------------------------------------------------------------------------


def _request(w: _W, root: _Element, message: Request) -> None:
    el = w.el(root, "request")
    _header(w, el, message.header, "request")
    _bibliographic_info(w, el, message.bibliographic_info)
    if message.publication_info is not None:
        _publication_info(w, el, message.publication_info)
    if message.service_info is not None:
        _service_info(w, el, message.service_info)
    elif w.v2021:
        raise Iso18626Error(_NO_ELEMENT, "request/serviceInfo is missing")
    for supplier in message.supplier_info:
        _supplier_info(w, el, supplier)
    for delivery in message.requested_delivery_info:
        _requested_delivery_info(w, el, delivery)
    if message.patron_info is not None:
        _patron_info(w, el, message.patron_info)
    if message.billing_info is not None:
        _billing_info(w, el, message.billing_info)


def _bibliographic_info(w: _W, parent: _Element, info: BibliographicInfo) -> None:
    el = w.el(parent, "bibliographicInfo")
    w.opt(el, "supplierUniqueRecordId", info.supplier_unique_record_id)
    w.opt(el, "title", info.title)
    w.opt(el, "author", info.author)
    w.opt(el, "subtitle", info.subtitle)
    w.opt(el, "seriesTitle", info.series_title)
    w.opt(el, "edition", info.edition)
    w.opt(el, "titleOfComponent", info.title_of_component)
    w.opt(el, "authorOfComponent", info.author_of_component)
    w.opt(el, "volume", info.volume)
    w.opt(el, "issue", info.issue)
    w.opt(el, "pagesRequested", info.pages_requested)
    w.opt(el, "estimatedNoPages", info.estimated_no_pages)
    for item in info.item_ids:
        _item_id(w, el, item)
    for record in info.record_ids:
        w.record_id(el, record)


def _item_id(w: _W, parent: _Element, item: BibliographicItemId) -> None:
    el = w.el(parent, "bibliographicItemId")
    children = [
        ("bibliographicItemIdentifier", item.identifier),
        ("bibliographicItemIdentifierCode", item.code),
    ]
    if w.v2021:  # 2021: the code comes first
        children.reverse()
    for name, text in children:
        w.el(el, name, text)


def _publication_info(w: _W, parent: _Element, info: PublicationInfo) -> None:
    el = w.el(parent, "publicationInfo")
    w.opt(el, "publisher", info.publisher)
    w.opt(el, "publicationType", info.publication_type)
    w.opt(el, "publicationDate", info.publication_date)
    w.opt(el, "placeOfPublication", info.place_of_publication)


def _service_info(w: _W, parent: _Element, info: ServiceInfo) -> None:
    path = "request/serviceInfo"
    el = w.el(parent, "serviceInfo")
    if info.request_type is not None:
        w.el(el, "requestType", str(info.request_type))
    if not w.v2021 and len(info.request_sub_types) > _MAX_SUB_TYPES_1_2:
        raise Iso18626Error(_BAD_VALUE, f"{path}/requestSubType: at most 3 in version 1.2")
    for sub_type in info.request_sub_types:
        w.el(el, "requestSubType", str(sub_type))
    w.opt(el, "requestingAgencyPreviousRequestId", info.requesting_agency_previous_request_id)
    w.el(el, "serviceType", str(info.service_type))
    w.opt(el, "serviceLevel", info.service_level)
    w.opt(el, "itemFormat" if w.v2021 else "preferredFormat", info.preferred_format)
    w.opt_when(el, "needBeforeDate", info.need_before_date, path)
    w.opt(el, "copyrightCompliance", info.copyright_compliance)
    w.yes_no(el, "anyEdition", info.any_edition)
    w.opt_when(el, "startDate", info.start_date, path)
    w.opt_when(el, "endDate", info.end_date, path)
    w.opt(el, "note", info.note)


def _supplier_info(w: _W, parent: _Element, info: SupplierInfo) -> None:
    el = w.el(parent, "supplierInfo")
    w.sort_order(el, info.sort_order, "request/supplierInfo")
    w.agency(el, "supplierCode", info.supplier_code)
    w.opt(el, "supplierDescription", info.supplier_description)
    if info.record_id is not None:
        w.record_id(el, info.record_id)
    w.opt(el, "callNumber", info.call_number)
    w.opt(el, "summaryHoldings", info.summary_holdings)
    w.opt(el, "availabilityNote", info.availability_note)


def _address(w: _W, parent: _Element, address: Address) -> None:
    el = w.el(parent, "address")
    if isinstance(address, ElectronicAddress):
        electronic = w.el(el, "electronicAddress")
        w.el(electronic, "electronicAddressType", address.type)
        w.el(electronic, "electronicAddressData", address.data)
        return
    physical = w.el(el, "physicalAddress")
    w.opt(physical, "line1", address.line1)
    w.opt(physical, "line2", address.line2)
    w.opt(physical, "locality", address.locality)
    w.opt(physical, "postalCode", address.postal_code)
    w.opt(physical, "region", address.region)  # scheme/value pair in 1.2, string in 2021
    w.opt(physical, "country", address.country)


def _requested_delivery_info(w: _W, parent: _Element, info: RequestedDeliveryInfo) -> None:
    el = w.el(parent, "requestedDeliveryInfo")
    w.sort_order(el, info.sort_order, "request/requestedDeliveryInfo")
    if info.address is not None:
        _address(w, el, info.address)


def _patron_info(w: _W, parent: _Element, info: PatronInfo) -> None:
    el = w.el(parent, "patronInfo")
    w.opt(el, "patronId", info.patron_id)
    w.opt(el, "surname", info.surname)
    w.opt(el, "givenName", info.given_name)
    w.opt(el, "patronType", info.patron_type)
    w.yes_no(el, "sendToPatron", info.send_to_patron)


def _billing_info(w: _W, parent: _Element, info: BillingInfo) -> None:
    el = w.el(parent, "billingInfo")
    w.opt(el, "paymentMethod", info.payment_method)
    w.costs(el, "maximumCosts", info.maximum_costs, "request/billingInfo")
    w.opt(el, "billingMethod", info.billing_method)
    w.opt(el, "billingName", info.billing_name)


# --- supplying and requesting agency messages ----------------------------------------------


def _supplying_agency_message(w: _W, root: _Element, message: SupplyingAgencyMessage) -> None:
    kind = "supplyingAgencyMessage"
    el = w.el(root, kind)
    _header(w, el, message.header, kind)
    info = message.message_info
    message_info = w.el(el, "messageInfo")
    w.el(message_info, "reasonForMessage", str(info.reason_for_message))
    w.yes_no(message_info, "answerYesNo", info.answer_yes_no)
    w.opt(message_info, "note", info.note)
    w.opt(message_info, "reasonUnfilled", info.reason_unfilled)
    w.opt(message_info, "reasonRetry", info.reason_retry)
    if not w.v2021:
        path = f"{kind}/messageInfo"
        w.costs(message_info, "offeredCosts", info.offered_costs, path)
        w.opt_when(message_info, "retryAfter", info.retry_after, path)
        w.opt_when(message_info, "retryBefore", info.retry_before, path)
    if message.status_info is None:
        raise Iso18626Error(_NO_ELEMENT, f"{kind}/statusInfo is missing")
    status_info = w.el(el, "statusInfo")
    status: Status = message.status_info.status
    w.el(status_info, "status", w.closed(status, f"{kind}/statusInfo/status"))
    path = f"{kind}/statusInfo"
    w.opt_when(
        status_info, "expectedDeliveryDate", message.status_info.expected_delivery_date, path
    )
    w.opt_when(status_info, "dueDate", message.status_info.due_date, path)
    w.when(status_info, "lastChange", message.status_info.last_change, path)
    if w.v2021 and (info.offered_costs or info.retry_before or info.retry_after):
        path = f"{kind}/retryInfo"
        retry = w.el(el, "retryInfo")
        w.costs(retry, "offeredCosts", info.offered_costs, path)
        w.opt_when(retry, "retryBefore", info.retry_before, path)  # before comes first in 2021
        w.opt_when(retry, "retryAfter", info.retry_after, path)
    if message.delivery_info is not None:
        _delivery_info(w, el, message.delivery_info)


def _delivery_info(w: _W, parent: _Element, info: DeliveryInfo) -> None:
    path = "supplyingAgencyMessage/deliveryInfo"
    el = w.el(parent, "deliveryInfo")
    w.when(el, "dateSent", info.date_sent, path)
    w.opt(el, "itemId", info.item_id)
    w.opt(el, "deliveryMethod" if w.v2021 else "sentVia", info.delivery_method)
    if info.sent_to_patron is not None:
        w.el(el, "sentToPatron", "true" if info.sent_to_patron else "false")
    w.opt(el, "loanCondition", info.loan_condition)
    w.opt(el, "itemFormat" if w.v2021 else "deliveredFormat", info.item_format)
    w.costs(el, "deliveryCosts", info.delivery_costs, path)


def _requesting_agency_message(w: _W, root: _Element, message: RequestingAgencyMessage) -> None:
    kind = "requestingAgencyMessage"
    el = w.el(root, kind)
    _header(w, el, message.header, kind)
    w.el(el, "action", w.closed(message.action, f"{kind}/action"))
    w.opt(el, "note", message.note)


# --- confirmations -------------------------------------------------------------------------


def _request_confirmation(w: _W, root: _Element, message: RequestConfirmation) -> None:
    el = w.el(root, "requestConfirmation")
    _confirmation_header(w, el, message.header, "requestConfirmation")
    _error_data(w, el, message.error_data)


def _supplying_agency_message_confirmation(
    w: _W, root: _Element, message: SupplyingAgencyMessageConfirmation
) -> None:
    kind = "supplyingAgencyMessageConfirmation"
    el = w.el(root, kind)
    _confirmation_header(w, el, message.header, kind)
    if message.reason_for_message is not None:
        w.el(el, "reasonForMessage", str(message.reason_for_message))
    _error_data(w, el, message.error_data)


def _requesting_agency_message_confirmation(
    w: _W, root: _Element, message: RequestingAgencyMessageConfirmation
) -> None:
    kind = "requestingAgencyMessageConfirmation"
    el = w.el(root, kind)
    _confirmation_header(w, el, message.header, kind)
    action: Action | None = message.action
    if action is not None:
        w.el(el, "action", w.closed(action, f"{kind}/action"))
    _error_data(w, el, message.error_data)


_WRITERS: dict[type, Callable[[_W, _Element, Any], None]] = {
    Request: _request,
    RequestConfirmation: _request_confirmation,
    SupplyingAgencyMessage: _supplying_agency_message,
    SupplyingAgencyMessageConfirmation: _supplying_agency_message_confirmation,
    RequestingAgencyMessage: _requesting_agency_message,
    RequestingAgencyMessageConfirmation: _requesting_agency_message_confirmation,
}
