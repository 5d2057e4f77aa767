"""Reading ISO 18626 messages: lenient in what it accepts, precise when it cannot.

Real peers do not send schema-valid XML (the mod-rs samples prove it), so the reader does not
validate. It accepts both versions and their mixtures, elements in any order, no namespace at
all (mod-rs templates), unknown elements (ignored), empty elements (as if absent), dates in
any ISO 8601 form (fractional seconds kept, no zone taken as UTC) and dates it cannot read at
all (as None: mod-rs templates carry "_TIMESTAMP_"; a peer's bad clock should not cost the
status change it reports). It refuses, with the error the standard defines, what it cannot give a
meaning to: a document that is not XML or not an ISO18626Message, a mandatory element missing, a
value outside a closed list, a number that is not one.

Security: the input is bounded before parsing, the parser resolves no entities, loads no DTD
and touches no network, and any document with a DOCTYPE is refused outright (an ILL message has
no use for one; entity tricks need one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from lxml import etree

from .errors import Iso18626Error
from .models import (
    NAMESPACE,
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

MAX_BYTES = 1024 * 1024
ROOT = "ISO18626Message"

_BADLY_FORMED = ErrorType.BADLY_FORMED_MESSAGE
_NO_ELEMENT = ErrorType.UNRECOGNISED_DATA_ELEMENT
_BAD_VALUE = ErrorType.UNRECOGNISED_DATA_VALUE

# xs:integer and xs:decimal lexical forms, ASCII digits only (int() and Decimal() accept more:
# other scripts' digits, underscores, exponents, NaN).
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})", re.ASCII)
_YES_NO = re.compile(r"[YN]")
_BOOLEAN = re.compile(r"true|false|1|0")
_SHOWN = 80  # characters of a refused value echoed back in errorValue

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


def read(data: bytes, *, max_bytes: int = MAX_BYTES) -> Message:
    """The message in `data`, or Iso18626Error saying precisely why not."""
    return read_with_version(data, max_bytes=max_bytes)[0]


def read_with_version(data: bytes, *, max_bytes: int = MAX_BYTES) -> tuple[Message, str]:
    """The message and the version it declares ("1.2", "2021-2", "1.0", "" when none).

    The version does not change how the message is read; it tells the caller which version
    to answer in.
    """
    root = _parse(data, max_bytes)
    version = root.get(f"{{{NAMESPACE}}}version") or root.get("version") or ""
    bodies = [child for child in _elements(root) if _local(child) in _KINDS]
    if len(bodies) != 1:
        found = "none" if not bodies else ", ".join(_local(b) or "" for b in bodies)
        raise Iso18626Error(
            _BADLY_FORMED, f"{ROOT} must hold exactly one message element, found {found}"
        )
    kind = _local(bodies[0]) or ""
    node = _Node(bodies[0], kind)
    read_header, read_body = _KINDS[kind]
    try:
        header = read_header(node)
    except Iso18626Error as err:
        err.kind = kind
        raise
    try:
        return read_body(node, header), version
    except Iso18626Error as err:
        err.kind, err.header = kind, header
        raise


# --- parsing -------------------------------------------------------------------------------


def _parse(data: bytes, max_bytes: int) -> etree._Element:
    if len(data) > max_bytes:
        raise Iso18626Error(
            _BADLY_FORMED, f"message is {len(data)} bytes, over the limit of {max_bytes}"
        )
    # Refused before parsing, so no DTD is ever read (the check after parsing catches the
    # encodings this byte search cannot see). A note quoting "<!DOCTYPE" in CDATA would be
    # refused too: an acceptable price.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Iso18626Error(_BADLY_FORMED, "a DOCTYPE or entity declaration is not allowed")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(bytes(data), parser)
    except (etree.LxmlError, ValueError) as exc:
        raise Iso18626Error(_BADLY_FORMED, f"not well-formed XML: {exc}") from None
    if root is None:
        raise Iso18626Error(_BADLY_FORMED, "no document element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise Iso18626Error(_BADLY_FORMED, "a DOCTYPE or entity declaration is not allowed")
    namespace, name = _split(root.tag)
    if name != ROOT:
        raise Iso18626Error(_BADLY_FORMED, f"the root element is {name!r}, not {ROOT!r}")
    # No namespace at all is accepted: mod-rs sends its templates that way.
    if namespace not in (NAMESPACE, None):
        raise Iso18626Error(
            _BADLY_FORMED, f"the root is in namespace {namespace!r}, not {NAMESPACE!r}"
        )
    return root


def _split(tag: str) -> tuple[str | None, str]:
    """(namespace, local name) of a "{namespace}name" tag."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return None, tag


def _local(el: etree._Element) -> str | None:
    """The element's name if it belongs to ISO 18626 (or to no namespace), else None."""
    if not isinstance(el.tag, str):
        return None
    namespace, name = _split(el.tag)
    return name if namespace in (NAMESPACE, None) else None


def _elements(el: etree._Element) -> Iterator[etree._Element]:
    return (child for child in el if isinstance(child.tag, str))


class _Node:
    """An element with its path, so every refusal can say where.

    Children are indexed by name once, on first use: looking names up one scan at a time
    would let a document of many unknown elements cost seconds to read.
    """

    __slots__ = ("_index", "el", "path")

    def __init__(self, el: etree._Element, path: str) -> None:
        self.el = el
        self.path = path
        self._index: dict[str, list[etree._Element]] | None = None

    def _children(self, name: str) -> list[etree._Element]:
        if self._index is None:
            self._index = {}
            for child in _elements(self.el):
                local = _local(child)
                if local is not None:
                    self._index.setdefault(local, []).append(child)
        return self._index.get(name, [])

    def all(self, name: str) -> list[_Node]:
        return [_Node(child, f"{self.path}/{name}") for child in self._children(name)]

    def first(self, name: str) -> _Node | None:
        """The first `name` child, if any (a repeated single element: the first one counts)."""
        found = self._children(name)
        return _Node(found[0], f"{self.path}/{name}") if found else None

    def require(self, name: str) -> _Node:
        found = self.first(name)
        if found is None:
            raise Iso18626Error(_NO_ELEMENT, f"{self.path}/{name} is missing")
        return found

    def text(self) -> str:
        """Text content without the text of child elements (there should be none)."""
        return (self.el.text or "") + "".join(child.tail or "" for child in self.el)

    def is_empty(self) -> bool:
        return not any(_local(child) for child in _elements(self.el)) and not self.text().strip()


# --- values --------------------------------------------------------------------------------


def _str(node: _Node, name: str) -> str | None:
    """Free text or an open-list code, verbatim; an empty element counts as absent."""
    found = node.first(name)
    return (found.text() or None) if found is not None else None


def _req_str(node: _Node, name: str) -> str:
    return node.require(name).text()


def _enum(node: _Node, name: str, kind: type[E]) -> E | None:
    """A closed-list value: absent or empty is None, anything outside the list is refused."""
    found = node.first(name)
    value = found.text().strip() if found is not None else ""
    return _member(kind, value, f"{node.path}/{name}") if value else None


def _required_enum(node: _Node, name: str, kind: type[E]) -> E:
    value = _enum(node, name, kind)
    if value is None:
        raise Iso18626Error(_NO_ELEMENT, f"{node.path}/{name} is missing")
    return value


def _member(kind: type[E], value: str, path: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise Iso18626Error(
            _BAD_VALUE, f"{path}: {value[:_SHOWN]!r} is not a known {kind.__name__}"
        ) from None


def _date(node: _Node, name: str) -> datetime | None:
    """A date as UTC, or None when absent or unreadable (see the module docstring)."""
    found = node.first(name)
    text = found.text().strip() if found is not None else ""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:  # no zone given: the standard's timestamps are UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _token(node: _Node, name: str, allowed: re.Pattern[str], what: str) -> str | None:
    """A typed value's text, stripped; None when absent or empty, refused when malformed."""
    found = node.first(name)
    text = found.text().strip() if found is not None else ""
    if not text:
        return None
    if not allowed.fullmatch(text):
        raise Iso18626Error(_BAD_VALUE, f"{node.path}/{name}: {text[:_SHOWN]!r} is not {what}")
    return text


def _int(node: _Node, name: str) -> int | None:
    text = _token(node, name, _INTEGER, "an integer")
    return None if text is None else int(text)


def _yes_no(node: _Node, name: str) -> bool | None:
    text = _token(node, name, _YES_NO, "Y or N")
    return None if text is None else text == "Y"


def _boolean(node: _Node, name: str) -> bool | None:
    text = _token(node, name, _BOOLEAN, "a boolean")
    return None if text is None else text in ("true", "1")


def _is_blank(value: Any) -> bool:
    """True for a structure in which nothing at all was said."""
    return all(getattr(value, f.name) in (None, ()) for f in fields(value))


def _part(node: _Node, name: str, build: Callable[[_Node], T]) -> T | None:
    """An optional structure; empty (as mod-rs sends them: `<offeredCosts />`) means absent."""
    found = node.first(name)
    return _built(found, build) if found is not None else None


def _parts(node: _Node, name: str, build: Callable[[_Node], T]) -> tuple[T, ...]:
    built = (_built(found, build) for found in node.all(name))
    return tuple(value for value in built if value is not None)


def _built(found: _Node, build: Callable[[_Node], T]) -> T | None:
    if found.is_empty():
        return None
    value = build(found)
    return None if _is_blank(value) else value


def _money(node: _Node) -> Money:
    node.require("monetaryValue")
    amount = _token(node, "monetaryValue", _DECIMAL, "a decimal")
    if amount is None:
        raise Iso18626Error(_NO_ELEMENT, f"{node.path}/monetaryValue is empty")
    return Money(amount=Decimal(amount), currency=_req_str(node, "currencyCode").strip())


def _agency(node: _Node) -> AgencyId:
    return AgencyId(type=_req_str(node, "agencyIdType"), value=_req_str(node, "agencyIdValue"))


def _scheme(node: _Node) -> str | None:
    return node.el.get(f"{{{NAMESPACE}}}scheme") or node.el.get("scheme") or None


# --- headers -------------------------------------------------------------------------------


def _header(node: _Node, *, supplier_required: bool) -> Header:
    header = node.require("header")
    supplier = _part(header, "supplyingAgencyId", _agency)
    if supplier is None and supplier_required:
        raise Iso18626Error(_NO_ELEMENT, f"{header.path}/supplyingAgencyId is missing")
    requester = _part(header, "requestingAgencyId", _agency)
    if requester is None:
        raise Iso18626Error(_NO_ELEMENT, f"{header.path}/requestingAgencyId is missing")
    return Header(
        supplying_agency_id=supplier,
        requesting_agency_id=requester,
        timestamp=_date(header, "timestamp"),
        requesting_agency_request_id=_req_str(header, "requestingAgencyRequestId"),
        supplying_agency_request_id=_str(header, "supplyingAgencyRequestId"),
        multiple_item_request_id=_str(header, "multipleItemRequestId") or "",
    )


def _request_header(node: _Node) -> Header:
    # A 2021 request may leave the supplier to a broker; so do ReShare's patron requests.
    return _header(node, supplier_required=False)


def _message_header(node: _Node) -> Header:
    return _header(node, supplier_required=True)


def _confirmation_header(node: _Node) -> ConfirmationHeader:
    header = node.require("confirmationHeader")
    status = _required_enum(header, "messageStatus", MessageStatus)
    return ConfirmationHeader(
        supplying_agency_id=_part(header, "supplyingAgencyId", _agency),
        requesting_agency_id=_part(header, "requestingAgencyId", _agency),
        timestamp=_date(header, "timestamp"),
        requesting_agency_request_id=_str(header, "requestingAgencyRequestId"),
        timestamp_received=_date(header, "timestampReceived"),
        message_status=status,
    )


# --- request -------------------------------------------------------------------------------


def _request(node: _Node, header: Header) -> Request:
    return Request(
        header=header,
        bibliographic_info=_bibliographic_info(node.require("bibliographicInfo")),
        publication_info=_part(node, "publicationInfo", _publication_info),
        service_info=_part(node, "serviceInfo", _service_info),
        supplier_info=_parts(node, "supplierInfo", _supplier_info),
        requested_delivery_info=_parts(node, "requestedDeliveryInfo", _requested_delivery_info),
        patron_info=_part(node, "patronInfo", _patron_info),
        billing_info=_part(node, "billingInfo", _billing_info),
    )


def _bibliographic_info(node: _Node) -> BibliographicInfo:
    return BibliographicInfo(
        supplier_unique_record_id=_str(node, "supplierUniqueRecordId"),
        title=_str(node, "title"),
        author=_str(node, "author"),
        subtitle=_str(node, "subtitle"),
        series_title=_str(node, "seriesTitle"),
        edition=_str(node, "edition"),
        title_of_component=_str(node, "titleOfComponent"),
        author_of_component=_str(node, "authorOfComponent"),
        volume=_str(node, "volume"),
        issue=_str(node, "issue"),
        pages_requested=_str(node, "pagesRequested"),
        estimated_no_pages=_str(node, "estimatedNoPages"),
        item_ids=_parts(node, "bibliographicItemId", _item_id),
        record_ids=_parts(node, "bibliographicRecordId", _record_id),
    )


def _item_id(node: _Node) -> BibliographicItemId:
    return BibliographicItemId(
        code=_req_str(node, "bibliographicItemIdentifierCode"),
        identifier=_req_str(node, "bibliographicItemIdentifier"),
    )


def _record_id(node: _Node) -> BibliographicRecordId:
    code = node.require("bibliographicRecordIdentifierCode")
    return BibliographicRecordId(
        code=code.text(),
        identifier=_req_str(node, "bibliographicRecordIdentifier"),
        scheme=_scheme(code),
    )


def _publication_info(node: _Node) -> PublicationInfo:
    return PublicationInfo(
        publisher=_str(node, "publisher"),
        publication_type=_str(node, "publicationType"),
        publication_date=_str(node, "publicationDate"),
        place_of_publication=_str(node, "placeOfPublication"),
    )


def _service_info(node: _Node) -> ServiceInfo:
    sub_types = tuple(
        _member(RequestSubType, value, sub.path)
        for sub in node.all("requestSubType")
        if (value := sub.text().strip())
    )
    return ServiceInfo(
        service_type=_required_enum(node, "serviceType", ServiceType),
        request_type=_enum(node, "requestType", RequestType),
        request_sub_types=sub_types,
        requesting_agency_previous_request_id=_str(node, "requestingAgencyPreviousRequestId"),
        service_level=_str(node, "serviceLevel"),
        preferred_format=_str(node, "preferredFormat") or _str(node, "itemFormat"),
        need_before_date=_date(node, "needBeforeDate"),
        copyright_compliance=_str(node, "copyrightCompliance"),
        any_edition=_yes_no(node, "anyEdition"),
        start_date=_date(node, "startDate"),
        end_date=_date(node, "endDate"),
        note=_str(node, "note"),
    )


def _supplier_info(node: _Node) -> SupplierInfo:
    return SupplierInfo(
        sort_order=_int(node, "sortOrder"),
        supplier_code=_part(node, "supplierCode", _agency),
        supplier_description=_str(node, "supplierDescription"),
        record_id=_part(node, "bibliographicRecordId", _record_id),
        call_number=_str(node, "callNumber"),
        summary_holdings=_str(node, "summaryHoldings"),
        availability_note=_str(node, "availabilityNote"),
    )


def _address(node: _Node) -> Address | None:
    electronic = node.first("electronicAddress")
    if electronic is not None and not electronic.is_empty():
        return ElectronicAddress(
            type=_req_str(electronic, "electronicAddressType"),
            data=_req_str(electronic, "electronicAddressData"),
        )
    return _part(node, "physicalAddress", _physical_address)


def _physical_address(node: _Node) -> PhysicalAddress:
    return PhysicalAddress(
        line1=_str(node, "line1"),
        line2=_str(node, "line2"),
        locality=_str(node, "locality"),
        postal_code=_str(node, "postalCode"),
        region=_str(node, "region"),
        country=_str(node, "country"),
    )


def _requested_delivery_info(node: _Node) -> RequestedDeliveryInfo:
    found = node.first("address")
    return RequestedDeliveryInfo(
        sort_order=_int(node, "sortOrder"),
        address=_address(found) if found is not None else None,
    )


def _patron_info(node: _Node) -> PatronInfo:
    return PatronInfo(
        patron_id=_str(node, "patronId"),
        surname=_str(node, "surname"),
        given_name=_str(node, "givenName"),
        patron_type=_str(node, "patronType"),
        send_to_patron=_yes_no(node, "sendToPatron"),
    )


def _billing_info(node: _Node) -> BillingInfo:
    return BillingInfo(
        payment_method=_str(node, "paymentMethod"),
        maximum_costs=_part(node, "maximumCosts", _money),
        billing_method=_str(node, "billingMethod"),
        billing_name=_str(node, "billingName"),
    )


# --- supplying and requesting agency messages ----------------------------------------------


def _supplying_agency_message(node: _Node, header: Header) -> SupplyingAgencyMessage:
    info = node.require("messageInfo")
    # 2021 moved costs and retry dates to retryInfo; mod-rs sends them in messageInfo.
    retry = node.first("retryInfo")
    retry = info if retry is None else retry
    return SupplyingAgencyMessage(
        header=header,
        message_info=MessageInfo(
            reason_for_message=_required_enum(info, "reasonForMessage", ReasonForMessage),
            answer_yes_no=_yes_no(info, "answerYesNo"),
            note=_str(info, "note"),
            reason_unfilled=_str(info, "reasonUnfilled"),
            reason_retry=_str(info, "reasonRetry"),
            offered_costs=_part(info, "offeredCosts", _money)
            or _part(retry, "offeredCosts", _money),
            retry_after=_date(info, "retryAfter") or _date(retry, "retryAfter"),
            retry_before=_date(info, "retryBefore") or _date(retry, "retryBefore"),
        ),
        status_info=_part(node, "statusInfo", _status_info),
        delivery_info=_part(node, "deliveryInfo", _delivery_info),
    )


def _status_info(node: _Node) -> StatusInfo:
    return StatusInfo(
        status=_required_enum(node, "status", Status),
        expected_delivery_date=_date(node, "expectedDeliveryDate"),
        due_date=_date(node, "dueDate"),
        last_change=_date(node, "lastChange"),
    )


def _delivery_info(node: _Node) -> DeliveryInfo:
    return DeliveryInfo(
        date_sent=_date(node, "dateSent"),
        item_id=_str(node, "itemId"),
        delivery_method=_str(node, "sentVia") or _str(node, "deliveryMethod"),
        sent_to_patron=_boolean(node, "sentToPatron"),
        loan_condition=_str(node, "loanCondition"),
        item_format=_str(node, "deliveredFormat") or _str(node, "itemFormat"),
        delivery_costs=_part(node, "deliveryCosts", _money),
    )


def _requesting_agency_message(node: _Node, header: Header) -> RequestingAgencyMessage:
    return RequestingAgencyMessage(
        header=header,
        action=_required_enum(node, "action", Action),
        note=_str(node, "note"),
    )


# --- confirmations -------------------------------------------------------------------------


def _error_data(node: _Node) -> ErrorData | None:
    # 2021 allows several errorData; the first one is the one that matters.
    def build(found: _Node) -> ErrorData:
        error_type = _required_enum(found, "errorType", ErrorType)
        return ErrorData(error_type=error_type, error_value=_str(found, "errorValue"))

    return _part(node, "errorData", build)


def _request_confirmation(node: _Node, header: ConfirmationHeader) -> RequestConfirmation:
    return RequestConfirmation(header=header, error_data=_error_data(node))


def _supplying_agency_message_confirmation(
    node: _Node, header: ConfirmationHeader
) -> SupplyingAgencyMessageConfirmation:
    return SupplyingAgencyMessageConfirmation(
        header=header,
        reason_for_message=_enum(node, "reasonForMessage", ReasonForMessage),
        error_data=_error_data(node),
    )


def _requesting_agency_message_confirmation(
    node: _Node, header: ConfirmationHeader
) -> RequestingAgencyMessageConfirmation:
    return RequestingAgencyMessageConfirmation(
        header=header, action=_enum(node, "action", Action), error_data=_error_data(node)
    )


# Each kind: how to read its header, then its body.
_KINDS: dict[str, tuple[Callable[[_Node], Any], Callable[[_Node, Any], Message]]] = {
    "request": (_request_header, _request),
    "supplyingAgencyMessage": (_message_header, _supplying_agency_message),
    "requestingAgencyMessage": (_message_header, _requesting_agency_message),
    "requestConfirmation": (_confirmation_header, _request_confirmation),
    "supplyingAgencyMessageConfirmation": (
        _confirmation_header,
        _supplying_agency_message_confirmation,
    ),
    "requestingAgencyMessageConfirmation": (
        _confirmation_header,
        _requesting_agency_message_confirmation,
    ),
}
