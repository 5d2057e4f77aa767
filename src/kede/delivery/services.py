"""Copies: accept an upload, keep it, hand it to the right person a limited number of times,
then delete it."""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Least
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from pypdf import PdfReader

from kede.accounts import selectors as people
from kede.accounts.models import User
from kede.delivery.assemble import assemble_pdf
from kede.delivery.checks import CopyRejected
from kede.delivery.models import DeliveredCopy, DeliveryPolicy, DownloadLog
from kede.delivery.stamping import stamp_copy

logger = logging.getLogger(__name__)
_LINK_SALT = "kede.delivery.copy-link"


@dataclass(frozen=True)
class CheckedUpload:
    name: str
    data: bytes
    pages: int
    sha256: str


@dataclass(frozen=True)
class StoredFile:
    checked: CheckedUpload
    path: str


def rejection_message(exc: CopyRejected) -> str:
    mb = 1024 * 1024
    p = exc.params
    name = p.get("name", "")
    messages = {
        "empty": _("“%(name)s” is empty.") % {"name": name} if name else _("The file is empty."),
        "too_large": _("The upload is %(size).1f MB; the limit is %(limit).0f MB.")
        % {"size": p.get("size", 0) / mb, "limit": p.get("limit", 0) / mb},
        "not_pdf": _("The file is not a PDF. Upload the copy as a PDF file."),
        "encrypted": _("A PDF is password-protected; upload it without a password."),
        "damaged": _("“%(name)s” is damaged and cannot be opened.") % {"name": name or "PDF"},
        "no_pages": _("“%(name)s” has no pages.") % {"name": name or "PDF"},
        "no_files": _("Choose the file or files to upload."),
        "unsupported": _("“%(name)s” is neither a PDF nor a TIFF, JPEG or PNG page scan.")
        % {"name": name},
        "damaged_image": _("The image “%(name)s” is damaged or cut short.") % {"name": name},
        "image_bomb": _(
            "The image “%(name)s” is far larger than any page scan (over %(limit)s million "
            "pixels) and was refused."
        )
        % {"name": name, "limit": p.get("limit", 0) // 1_000_000},
        "too_many_pages": _("The upload has %(pages)s pages; at most %(limit)s are allowed.")
        % {"pages": p.get("pages", 0), "limit": p.get("limit", 0)},
    }
    if "detail" in p:
        logger.info("upload refused (%s): %s", exc.code, p["detail"])
    return messages.get(exc.code, _("The file cannot be delivered."))


def _refused(exc: CopyRejected) -> ValidationError:
    return ValidationError({"file": rejection_message(exc)})


def _stamp_labels() -> dict[str, str]:
    return {
        "title": _("Kede document delivery"),
        "request": _("Request"),
        "reader": _("Reader"),
        "institution": _("Library"),
        "supplier": _("Supplied by"),
        "date": _("Date"),
        "pages": _("Pages"),
        "footer_notice": _("For the requester's private study only."),
    }


def _copyright_notice() -> str:
    return _(
        "This copy is supplied for the private study or research of the reader named above "
        "only. It may not be copied again, passed on or published. It is deleted from Kede "
        "when its download period or limit is over."
    )


def copy_prepare(*, uploads: list[UploadedFile], supply) -> CheckedUpload:
    """Put the uploaded files (PDFs and page scans, in order) into one PDF and stamp it for the
    reader: a cover page and a footer on every page, in the reader's language."""
    limit = settings.KEDE_MAX_UPLOAD_BYTES
    total = sum(u.size or 0 for u in uploads)
    if total > limit:
        raise _refused(CopyRejected("too_large", size=total, limit=limit))
    files = [((u.name or "upload").rsplit("/", 1)[-1][:200], u.read(limit + 1)) for u in uploads]
    request = supply.request
    reader = request.reader
    try:
        assembled = assemble_pdf(files, max_bytes=limit)
        if reader is None:
            # The reader is known only to the requesting library's system, which stamps the
            # copy when it fetches it from here.
            return _checked(files, request, assembled)
        with translation.override(reader.preferred_language or settings.LANGUAGE_CODE):
            stamped = stamp_copy(
                assembled,
                request_number=request.number,
                reader_name=reader.shown_name,
                institution=request.requester.local_name,
                supplier=supply.supplier.local_name,
                notice=_copyright_notice(),
                delivered_on=timezone.localdate(),
                labels=_stamp_labels(),
            )
    except CopyRejected as exc:
        raise _refused(exc) from exc
    return _checked(files, request, stamped)


def _checked(files: list[tuple[str, bytes]], request, pdf: bytes) -> CheckedUpload:
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    name = files[0][0] if len(files) == 1 else f"{request.number}.pdf"
    return CheckedUpload(name=name, data=pdf, pages=pages, sha256=hashlib.sha256(pdf).hexdigest())


def copy_save_file(checked: CheckedUpload) -> StoredFile:
    """Store the file before anything is recorded; a storage failure is told to the uploader."""
    today = timezone.localdate()
    try:
        path = default_storage.save(
            f"copies/{today:%Y/%m}/{checked.sha256[:16]}.pdf", ContentFile(checked.data)
        )
    except OSError as exc:
        logger.exception("storing a delivered copy failed")
        raise ValidationError(
            {
                "file": _(
                    "The copy could not be stored (%(error)s). Nothing was delivered; try "
                    "again, and tell the centre if it keeps failing."
                )
                % {"error": exc.strerror or exc.__class__.__name__}
            }
        ) from exc
    return StoredFile(checked=checked, path=path)


def copy_discard_file(stored: StoredFile) -> None:
    try:
        default_storage.delete(stored.path)
    except OSError:
        logger.exception("could not remove unused upload %s", stored.path)


@dataclass(frozen=True)
class Limits:
    download_limit: int
    days_after_upload: int
    days_after_first_download: int


def limits_for(supplier) -> Limits:
    """The supplier's own policy, else the consortium's default, else the settings' defaults."""
    policy = (
        DeliveryPolicy.objects.filter(institution=supplier).first()
        or DeliveryPolicy.objects.filter(institution__isnull=True).first()
    )
    if policy is not None:
        return Limits(
            policy.download_limit, policy.days_after_upload, policy.days_after_first_download
        )
    return Limits(
        settings.KEDE_DOWNLOAD_LIMIT,
        settings.KEDE_DOWNLOAD_DAYS,
        settings.KEDE_DOWNLOAD_DAYS_AFTER_FIRST,
    )


def copy_record(*, supply, stored: StoredFile, actor: User | None) -> DeliveredCopy:
    """Record a stored copy against the request. Call inside the delivering transaction."""
    now = timezone.now()
    limits = limits_for(supply.supplier)
    return DeliveredCopy.objects.create(
        request=supply.request,
        supply=supply,
        file=stored.path,
        original_name=stored.checked.name,
        size=len(stored.checked.data),
        pages=stored.checked.pages,
        sha256=stored.checked.sha256,
        uploaded_by=actor,
        uploaded_at=now,
        download_limit=limits.download_limit,
        expires_at=now + datetime.timedelta(days=limits.days_after_upload),
        days_after_first_download=limits.days_after_first_download,
    )


def copy_link(copy: DeliveredCopy) -> str:
    token = signing.dumps({"c": copy.id, "r": copy.request.reader_id}, salt=_LINK_SALT)
    return reverse("portal:copy-download", kwargs={"copy_id": copy.id, "token": token})


def copy_notify_reader(*, copy: DeliveredCopy) -> None:
    """Queue the reader's mail in the same transaction as the delivery: both or neither."""
    from kede.delivery.tasks import send_copy_ready_mail

    send_copy_ready_mail.enqueue(copy_id=copy.id, attempt=1)


class DownloadRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def refusal_message(code: str) -> str:
    return {
        "bad_link": _(
            "This download link is not valid. Use the link in your mail or on the request page."
        ),
        "not_yours": _("This copy was delivered to someone else."),
        "deleted": _("This copy has been deleted: its download period or limit is over."),
        "expired": _("This copy's download period is over."),
        "used_up": _("This copy has been downloaded as many times as allowed."),
    }.get(code, _("This copy cannot be downloaded."))


def _may_download(actor: User, copy: DeliveredCopy) -> bool:
    request = copy.request
    if request.reader_id == actor.id:
        return True
    return people.permitted(actor, "copy.download", request.requester, as_staff=True)


def copy_download(*, actor: User, copy_id: int, token: str, ip: str | None) -> DeliveredCopy:
    """Count one download by `actor` through a signed link, or say why not. Every try is logged."""
    copy = DeliveredCopy.objects.select_related("request").filter(id=copy_id).first()
    if copy is None:
        raise DownloadRefused("bad_link")
    outcome = "ok"
    try:
        try:
            payload = signing.loads(token, salt=_LINK_SALT)
        except signing.BadSignature:
            raise DownloadRefused("bad_link") from None
        if payload.get("c") != copy.id or payload.get("r") != copy.request.reader_id:
            raise DownloadRefused("bad_link")
        if not _may_download(actor, copy):
            raise DownloadRefused("not_yours")
        now = timezone.now()
        if copy.deleted_at is not None:
            raise DownloadRefused("deleted")
        if now >= copy.expires_at:
            raise DownloadRefused("expired")
        counted = DeliveredCopy.objects.filter(
            id=copy.id,
            deleted_at__isnull=True,
            expires_at__gt=now,
            downloads__lt=F("download_limit"),
        ).update(downloads=F("downloads") + 1)
        if not counted:
            raise DownloadRefused("used_up")
        _start_after_first_download_clock(copy, now)
    except DownloadRefused as exc:
        outcome = exc.code
        raise
    finally:
        DownloadLog.objects.create(copy=copy, user=actor, ip=ip, outcome=outcome)
    copy.refresh_from_db()
    from kede.ill.services import request_copy_received

    request_copy_received(actor=actor, request=copy.request)
    return copy


def _start_after_first_download_clock(copy: DeliveredCopy, now: datetime.datetime) -> None:
    """The first download starts the shorter 'days after first download' period."""
    ends = now + datetime.timedelta(days=copy.days_after_first_download)
    DeliveredCopy.objects.filter(id=copy.id, first_downloaded_at__isnull=True).update(
        first_downloaded_at=now, expires_at=Least(F("expires_at"), Value(ends))
    )


def _delete_file(copy: DeliveredCopy) -> bool:
    try:
        default_storage.delete(copy.file.name)
    except OSError:
        logger.exception("could not delete copy file %s; will retry", copy.file.name)
        return False
    return True


def copies_retire(*, request, reason: str, keep: DeliveredCopy | None = None) -> int:
    """Delete the request's copies now (a replacement has come: `keep`). Call inside its
    transaction."""
    from kede.ill.services import request_record_fact

    retired = 0
    current = DeliveredCopy.objects.filter(request=request, deleted_at__isnull=True)
    if keep is not None:
        current = current.exclude(id=keep.id)
    for copy in current:
        if _delete_file(copy):
            retired += DeliveredCopy.objects.filter(id=copy.id, deleted_at__isnull=True).update(
                deleted_at=timezone.now(), deleted_reason=reason
            )
    if retired:
        request_record_fact(request=request, action="copy_deleted", note=reason)
    return retired


REMINDER_ACTION = "expiry_reminded"


def copies_to_remind(now: datetime.datetime | None = None) -> list[DeliveredCopy]:
    """Copies never downloaded whose period ends within KEDE_REMIND_DAYS_BEFORE_EXPIRY days
    and whose reader has not been reminded yet (the reminder is in the request's history)."""
    from kede.ill.models import RequestEvent

    now = now or timezone.now()
    soon = now + datetime.timedelta(days=settings.KEDE_REMIND_DAYS_BEFORE_EXPIRY)
    due = DeliveredCopy.objects.filter(
        deleted_at__isnull=True, downloads=0, expires_at__gt=now, expires_at__lte=soon
    ).select_related("request", "request__reader")
    reminded = set(
        RequestEvent.objects.filter(
            action=REMINDER_ACTION, request_id__in=[c.request_id for c in due]
        ).values_list("note", flat=True)
    )
    return [c for c in due if str(c.id) not in reminded]


def copy_mark_reminded(copy: DeliveredCopy) -> None:
    from kede.ill.services import request_record_fact

    request_record_fact(request=copy.request, action=REMINDER_ACTION, note=str(copy.id))


def copies_purge_expired(now: datetime.datetime | None = None) -> int:
    """Delete the files of copies past their period or limit. Safe to run twice at once."""
    now = now or timezone.now()
    due = DeliveredCopy.objects.filter(deleted_at__isnull=True).filter(
        Q(expires_at__lte=now) | Q(downloads__gte=F("download_limit"))
    )
    purged = 0
    from kede.ill.services import request_record_fact

    for copy in due.select_related("request").iterator():
        reason = "used_up" if copy.downloads >= copy.download_limit else "expired"
        if not _delete_file(copy):
            continue
        with transaction.atomic():
            done = DeliveredCopy.objects.filter(id=copy.id, deleted_at__isnull=True).update(
                deleted_at=now, deleted_reason=reason
            )
            if done:
                request_record_fact(request=copy.request, action="copy_deleted", note=reason)
            purged += done
    return purged
