"""A crash between a copy's upload and the reader's notification loses nothing: the process that
delivered dies the moment the delivery commits, before any worker ran, and the mail goes out
once when the worker comes back."""

import os
import subprocess
import sys
import textwrap

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django_tasks_db.models import DBTaskResult

from kede.conftest import submit_copy_request
from kede.core.runtime import run_pending_tasks

pytestmark = pytest.mark.django_db(transaction=True)

# Run in a process of its own against the test database: deliver the copy as FDU's librarian
# would, then die at once, the way a killed web server does (no clean-up, no worker).
DELIVER_AND_DIE = textwrap.dedent(
    """
    import os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "kede.settings_test"
    import django
    from django.conf import settings
    settings.DATABASES["default"]["NAME"] = sys.argv[1]
    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from kede.accounts.models import User
    from kede.conftest import pdf_bytes
    from kede.ill import services
    from kede.ill.models import SupplyRequest

    supply = SupplyRequest.objects.get(id=int(sys.argv[2]))
    services.supply_deliver(
        actor=User.objects.get(username="staff_fdu"),
        supply=supply,
        upload=SimpleUploadedFile("c.pdf", pdf_bytes(), "application/pdf"),
    )
    os._exit(137)
    """
)


def test_a_delivery_whose_process_dies_at_once_still_mails_the_reader_once(network, mailoutbox):
    # given a reader's request at FDU
    request = submit_copy_request(network, "Chapter 9")
    supply = request.supplies.get()
    # when FDU delivers the copy in a process that dies as soon as the delivery commits
    died = subprocess.run(
        [sys.executable, "-c", DELIVER_AND_DIE, connection.settings_dict["NAME"], str(supply.id)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert died.returncode == 137, died.stderr
    # then the delivery is there, file and all, and the reader's mail is waiting in the queue
    request.refresh_from_db()
    assert request.state == "delivered"
    copy = request.copies.get()
    assert default_storage.exists(copy.file.name)
    waiting = DBTaskResult.objects.filter(
        status="READY", task_path__endswith="send_copy_ready_mail"
    )
    assert waiting.count() == 1
    assert mailoutbox == []
    # when the worker comes back
    run_pending_tasks()
    # then the reader has exactly one mail, with the link to the copy
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [network.readers["USST"].email]
    assert f"/files/{copy.id}/" in mailoutbox[0].body
    # and running the worker again sends nothing more
    run_pending_tasks()
    assert len(mailoutbox) == 1
    assert not waiting.exists()
