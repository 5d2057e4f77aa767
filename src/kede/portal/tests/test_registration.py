"""A reader registers on the page, their library approves on its page, and they can ask."""

import pytest
from django.urls import reverse

from kede.accounts.models import Membership
from kede.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def form(network, **overrides):
    data = {
        "institution": network["USST"].id,
        "username": "li.hua",
        "full_name": "李华",
        "email": "li.hua@example.org",
        "reader_category": "masters",
        "department": "管理学院",
        "password1": "a-long-pass-42",
        "password2": "a-long-pass-42",
    }
    data.update(overrides)
    return data


def test_register_wait_be_approved_then_ask(client, network):
    # given a newcomer who registers
    response = client.post(reverse("accounts:register"), form(network), follow=True)
    assert response.status_code == 200
    membership = Membership.objects.get(user__username="li.hua")
    assert membership.status == "pending"
    # then the pages say they wait, and the request form is closed to them
    assert "USST Library" in response.content.decode()
    assert client.get(reverse("portal:request-new")).status_code == 403
    # when USST's staff approve them on the readers page
    client.logout()
    assert client.login(username=network.staff["USST"].username, password=PASSWORD)
    assert "li.hua@example.org" in client.get(reverse("portal:staff-readers")).content.decode()
    client.post(reverse("portal:staff-reader-decide", args=[membership.id, "approve"]))
    # then the reader can open the request form
    client.logout()
    assert client.login(username="li.hua", password="a-long-pass-42")
    assert client.get(reverse("portal:request-new")).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password2": "something-else"}, "password2"),
        ({"password1": "123", "password2": "123"}, "password1"),
        ({"email": "not-an-address"}, "email"),
        ({"username": "has space"}, "username"),
        ({"reader_category": "wizard"}, "reader_category"),
    ],
)
def test_bad_registrations_say_what_is_wrong_beside_the_field(client, network, overrides, field):
    response = client.post(reverse("accounts:register"), form(network, **overrides))
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Membership.objects.filter(user__username="li.hua").exists()


def test_a_taken_user_name_is_refused_case_insensitively(client, network):
    response = client.post(
        reverse("accounts:register"),
        form(network, username=network.readers["FDU"].username.upper()),
    )
    assert 'id="id_username_error"' in response.content.decode()
