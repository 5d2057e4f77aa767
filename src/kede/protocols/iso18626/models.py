"""ISO 18626 messages as plain, frozen values.

One model serves both schema versions: where 1.2 and 2021-2 put the same datum in different
places (offeredCosts in messageInfo or in retryInfo, sentVia or deliveryMethod), the model holds
it once and the writer places it. Closed lists of the standard are enums, so a value outside them
cannot be built; open lists (Annex B: reasonUnfilled, serviceLevel, deliveryMethod…) are plain
strings, because peers add their own codes and the standard allows it.

Dates are aware datetimes or None. The reader gives None for a date it cannot read rather than
refusing the whole message (see reader.py); the writer refuses None where the schema demands one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

NAMESPACE = "http://illtransactions.org/2013/iso18626"
VERSION_1_2 = "1.2"
VERSION_2021_2 = "2021-2"
VERSIONS = (VERSION_1_2, VERSION_2021_2)


class Status(StrEnum):
    REQUEST_RECEIVED = "RequestReceived"
    EXPECT_TO_SUPPLY = "ExpectToSupply"
    WILL_SUPPLY = "WillSupply"
    LOANED = "Loaned"
    OVERDUE = "Overdue"
    RECALLED = "Recalled"
    RETRY_POSSIBLE = "RetryPossible"
    UNFILLED = "Unfilled"
    COPY_COMPLETED = "CopyCompleted"
    LOAN_COMPLETED = "LoanCompleted"
    COMPLETED_WITHOUT_RETURN = "CompletedWithoutReturn"
    CANCELLED = "Cancelled"
    HOLD_RETURN = "HoldReturn"  # 2021 only
    RELEASE_HOLD_RETURN = "ReleaseHoldReturn"  # 2021 only


class ReasonForMessage(StrEnum):
    REQUEST_RESPONSE = "RequestResponse"  # only the supplier's first message
    STATUS_REQUEST_RESPONSE = "StatusRequestResponse"
    RENEW_RESPONSE = "RenewResponse"
    CANCEL_RESPONSE = "CancelResponse"
    STATUS_CHANGE = "StatusChange"
    NOTIFICATION = "Notification"


class Action(StrEnum):
    STATUS_REQUEST = "StatusRequest"
    RECEIVED = "Received"
    CANCEL = "Cancel"
    RENEW = "Renew"
    SHIPPED_RETURN = "ShippedReturn"
    SHIPPED_FORWARD = "ShippedForward"
    NOTIFICATION = "Notification"
    HOLD_RETURN = "HoldReturn"  # 2021 only
    LOST = "Lost"  # 2021 only


class ServiceType(StrEnum):
    COPY = "Copy"
    LOAN = "Loan"
    COPY_OR_LOAN = "CopyOrLoan"


class RequestType(StrEnum):
    NEW = "New"
    RETRY = "Retry"
    REMINDER = "Reminder"


class RequestSubType(StrEnum):
    BOOKING_REQUEST = "BookingRequest"
    MULTIPLE_ITEM_REQUEST = "MultipleItemRequest"
    PATRON_REQUEST = "PatronRequest"
    TRANSFER_REQUEST = "TransferRequest"
    SUPPLYING_LIBRARYS_CHOICE = "SupplyingLibrarysChoice"


class MessageStatus(StrEnum):
    OK = "OK"
    ERROR = "ERROR"


class ErrorType(StrEnum):
    # The schema's British "-ised" spelling is the one on the wire.
    UNSUPPORTED_ACTION_TYPE = "UnsupportedActionType"
    UNSUPPORTED_REASON_FOR_MESSAGE_TYPE = "UnsupportedReasonForMessageType"
    UNRECOGNISED_DATA_ELEMENT = "UnrecognisedDataElement"
    UNRECOGNISED_DATA_VALUE = "UnrecognisedDataValue"
    BADLY_FORMED_MESSAGE = "BadlyFormedMessage"


@dataclass(frozen=True, kw_only=True)
class AgencyId:
    """An agency as (type, value), e.g. ("ISIL", "CN-200433-F")."""

    type: str
    value: str


@dataclass(frozen=True, kw_only=True)
class Money:
    amount: Decimal
    currency: str  # ISO 4217, e.g. "CNY"


@dataclass(frozen=True, kw_only=True)
class Header:
    """The header of a request, supplying- or requesting-agency message.

    The agency ids name roles, not directions: supplyingAgencyId is the supplier in every
    message of the transaction, whoever sends it.
    """

    # None only in a 2021 request that leaves the choice of supplier to a broker.
    supplying_agency_id: AgencyId | None
    requesting_agency_id: AgencyId
    timestamp: datetime | None
    requesting_agency_request_id: str
    supplying_agency_request_id: str | None = None
    # Mandatory (and sent empty) in 1.2; in 2021 only a request may carry it.
    multiple_item_request_id: str = ""


@dataclass(frozen=True, kw_only=True)
class ConfirmationHeader:
    supplying_agency_id: AgencyId | None
    requesting_agency_id: AgencyId | None
    timestamp: datetime | None
    requesting_agency_request_id: str | None
    # The timestamp of the message being confirmed.
    timestamp_received: datetime | None
    message_status: MessageStatus


@dataclass(frozen=True, kw_only=True)
class ErrorData:
    error_type: ErrorType
    error_value: str | None = None


@dataclass(frozen=True, kw_only=True)
class BibliographicItemId:
    """An identifier of the item itself: code "ISBN", "ISSN", "DOI", "ISMN"… (open list)."""

    code: str
    identifier: str


@dataclass(frozen=True, kw_only=True)
class BibliographicRecordId:
    """A catalogue record's id: code "OCLC", "LCCN", a union catalogue's own…"""

    code: str
    identifier: str
    scheme: str | None = None  # the code's scheme attribute, e.g. "ZFL" in ReShare's


@dataclass(frozen=True, kw_only=True)
class BibliographicInfo:
    supplier_unique_record_id: str | None = None
    title: str | None = None
    author: str | None = None
    subtitle: str | None = None
    series_title: str | None = None
    edition: str | None = None
    title_of_component: str | None = None
    author_of_component: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages_requested: str | None = None
    estimated_no_pages: str | None = None
    item_ids: tuple[BibliographicItemId, ...] = ()
    record_ids: tuple[BibliographicRecordId, ...] = ()

    def item_id(self, code: str) -> str | None:
        """The first item identifier with this code ("ISBN", "issn"…), case ignored."""
        wanted = code.casefold()
        return next((i.identifier for i in self.item_ids if i.code.casefold() == wanted), None)


@dataclass(frozen=True, kw_only=True)
class PublicationInfo:
    publisher: str | None = None
    publication_type: str | None = None
    publication_date: str | None = None  # free text in the schema: "2019", "1998-2003"…
    place_of_publication: str | None = None


@dataclass(frozen=True, kw_only=True)
class ServiceInfo:
    service_type: ServiceType
    request_type: RequestType | None = None
    request_sub_types: tuple[RequestSubType, ...] = ()
    requesting_agency_previous_request_id: str | None = None
    service_level: str | None = None
    preferred_format: str | None = None  # preferredFormat in 1.2, itemFormat in 2021
    need_before_date: datetime | None = None
    copyright_compliance: str | None = None
    any_edition: bool | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class SupplierInfo:
    sort_order: int | None = None
    supplier_code: AgencyId | None = None
    supplier_description: str | None = None
    record_id: BibliographicRecordId | None = None
    call_number: str | None = None
    summary_holdings: str | None = None
    availability_note: str | None = None


@dataclass(frozen=True, kw_only=True)
class ElectronicAddress:
    type: str  # "Email", "URL", "FTP"… (open list)
    data: str


@dataclass(frozen=True, kw_only=True)
class PhysicalAddress:
    line1: str | None = None
    line2: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    region: str | None = None  # ISO 3166-2
    country: str | None = None  # ISO 3166-1


Address = ElectronicAddress | PhysicalAddress


@dataclass(frozen=True, kw_only=True)
class RequestedDeliveryInfo:
    sort_order: int | None = None
    address: Address | None = None


@dataclass(frozen=True, kw_only=True)
class PatronInfo:
    patron_id: str | None = None
    surname: str | None = None
    given_name: str | None = None
    patron_type: str | None = None
    send_to_patron: bool | None = None


@dataclass(frozen=True, kw_only=True)
class BillingInfo:
    payment_method: str | None = None
    maximum_costs: Money | None = None
    billing_method: str | None = None
    billing_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageInfo:
    reason_for_message: ReasonForMessage
    answer_yes_no: bool | None = None
    note: str | None = None
    reason_unfilled: str | None = None  # NotHeld, NotOnShelf, PolicyProblem… (open list)
    reason_retry: str | None = None  # CostExceedsMaxCost, OnLoan, AtBindery… (open list)
    # In messageInfo in 1.2, in retryInfo in 2021.
    offered_costs: Money | None = None
    retry_after: datetime | None = None
    retry_before: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StatusInfo:
    status: Status
    expected_delivery_date: datetime | None = None
    due_date: datetime | None = None
    last_change: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class DeliveryInfo:
    date_sent: datetime | None = None
    item_id: str | None = None
    delivery_method: str | None = None  # sentVia in 1.2, deliveryMethod in 2021
    sent_to_patron: bool | None = None
    loan_condition: str | None = None
    item_format: str | None = None  # deliveredFormat in 1.2, itemFormat in 2021
    delivery_costs: Money | None = None


@dataclass(frozen=True, kw_only=True)
class Request:
    header: Header
    bibliographic_info: BibliographicInfo
    publication_info: PublicationInfo | None = None
    service_info: ServiceInfo | None = None  # mandatory in 2021
    supplier_info: tuple[SupplierInfo, ...] = ()
    requested_delivery_info: tuple[RequestedDeliveryInfo, ...] = ()
    patron_info: PatronInfo | None = None
    billing_info: BillingInfo | None = None


@dataclass(frozen=True, kw_only=True)
class RequestConfirmation:
    header: ConfirmationHeader
    error_data: ErrorData | None = None


@dataclass(frozen=True, kw_only=True)
class SupplyingAgencyMessage:
    header: Header
    message_info: MessageInfo
    # Mandatory in both schemas, yet mod-rs leaves it out of its "No" answer to a cancel
    # request. None says nothing about the status: it has not changed.
    status_info: StatusInfo | None
    delivery_info: DeliveryInfo | None = None


@dataclass(frozen=True, kw_only=True)
class SupplyingAgencyMessageConfirmation:
    header: ConfirmationHeader
    reason_for_message: ReasonForMessage | None = None
    error_data: ErrorData | None = None


@dataclass(frozen=True, kw_only=True)
class RequestingAgencyMessage:
    header: Header
    action: Action
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class RequestingAgencyMessageConfirmation:
    header: ConfirmationHeader
    action: Action | None = None
    error_data: ErrorData | None = None


Confirmation = (
    RequestConfirmation | SupplyingAgencyMessageConfirmation | RequestingAgencyMessageConfirmation
)
Message = Request | SupplyingAgencyMessage | RequestingAgencyMessage | Confirmation
