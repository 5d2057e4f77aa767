"""The centre looks at requests in the admin; it cannot change them behind the services' back."""

import pytest
from django.urls import reverse

from kede.accounts.models import User
from kede.conftest import PASSWORD
from kede.ill import services

pytestmark = pytest.mark.django_db


def test_the_centre_sees_requests_in_the_admin_but_cannot_edit_them(client, network):
    request = services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title="Chapter 9", container_title="The making"),
        work=network.work,
    )
    User.objects.filter(id=network.centre_admin.id).update(is_staff=True, is_superuser=True)
    assert client.login(username=network.centre_admin.username, password=PASSWORD)
    listing = client.get(reverse("admin:ill_request_changelist"))
    assert listing.status_code == 200
    assert request.number in listing.content.decode()
    change = client.post(
        reverse("admin:ill_request_change", args=[request.id]), {"state": "completed"}
    )
    assert change.status_code == 403
    request.refresh_from_db()
    assert request.state == "sent"
