"""Downloads need the right person and a valid link, within the limits; files then go."""

import datetime

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from kede.conftest import deliver_copy
from kede.delivery import services as delivery
from kede.delivery.models import DeliveredCopy, DownloadLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def copy(network):
    return deliver_copy(network, "Chapter 4").copies.get()


def token_of(copy):
    return delivery.copy_link(copy).rstrip("/").rsplit("/", 1)[-1]


def test_the_reader_downloads_with_the_link_and_the_request_completes(network, copy):
    got = delivery.copy_download(
        actor=network.readers["USST"], copy_id=copy.id, token=token_of(copy), ip="127.0.0.1"
    )
    assert got.downloads == 1
    assert got.file.read()[:5] == b"%PDF-"
    copy.request.refresh_from_db()
    assert copy.request.state == "completed"
    assert DownloadLog.objects.filter(copy=copy, outcome="ok").count() == 1


def test_the_readers_library_staff_may_download_for_them(network, copy):
    delivery.copy_download(
        actor=network.staff["USST"], copy_id=copy.id, token=token_of(copy), ip=None
    )


@pytest.mark.parametrize("who", ["reader_of_another_library", "supplier_staff", "other_staff"])
def test_anyone_else_is_refused_even_with_the_link(network, copy, who):
    actor = {
        "reader_of_another_library": network.readers["FDU"],
        "supplier_staff": network.staff["FDU"],
        "other_staff": network.staff["SCU"],
    }[who]
    with pytest.raises(delivery.DownloadRefused) as exc:
        delivery.copy_download(actor=actor, copy_id=copy.id, token=token_of(copy), ip="10.0.0.9")
    assert exc.value.code == "not_yours"
    assert DownloadLog.objects.get(copy=copy).outcome == "not_yours"


def test_a_tampered_or_foreign_token_is_refused(network, copy):
    reader = network.readers["USST"]
    token = token_of(copy)
    for bad in (token[:-2] + "xx", "garbage", token.replace(":", ";")):
        with pytest.raises(delivery.DownloadRefused) as exc:
            delivery.copy_download(actor=reader, copy_id=copy.id, token=bad, ip=None)
        assert exc.value.code == "bad_link"
    assert DeliveredCopy.objects.get(id=copy.id).downloads == 0


def test_the_download_limit_is_enforced(network, copy, settings):
    reader = network.readers["USST"]
    for _ in range(copy.download_limit):
        delivery.copy_download(actor=reader, copy_id=copy.id, token=token_of(copy), ip=None)
    with pytest.raises(delivery.DownloadRefused) as exc:
        delivery.copy_download(actor=reader, copy_id=copy.id, token=token_of(copy), ip=None)
    assert exc.value.code == "used_up"


def test_an_expired_copy_is_refused_and_purged_once(network, copy):
    DeliveredCopy.objects.filter(id=copy.id).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    with pytest.raises(delivery.DownloadRefused) as exc:
        delivery.copy_download(
            actor=network.readers["USST"], copy_id=copy.id, token=token_of(copy), ip=None
        )
    assert exc.value.code == "expired"
    assert default_storage.exists(copy.file.name)
    assert delivery.copies_purge_expired() == 1
    assert delivery.copies_purge_expired() == 0
    copy.refresh_from_db()
    assert copy.deleted_reason == "expired"
    assert not default_storage.exists(copy.file.name)
