"""Chinese by default whatever the browser says; English by the switch, remembered."""

import pytest
from django.urls import reverse

from kede.accounts.models import User
from kede.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_an_english_browser_still_gets_chinese_until_the_switch(client):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="zh-hans">' in page.content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert '<html lang="en">' in client.get("/").content.decode()


def test_the_switch_is_remembered_for_the_person_and_their_mail(client, network):
    reader = network.readers["USST"]
    assert client.login(username=reader.username, password=PASSWORD)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert User.objects.get(id=reader.id).preferred_language == "en"
    client.cookies.clear()
    assert client.login(username=reader.username, password=PASSWORD)
    assert '<html lang="en">' in client.get("/").content.decode()


def test_institution_names_follow_the_language(client, network):
    usst = network["USST"]
    usst.name_en = "USST Library (English)"
    usst.save()
    work_page = reverse("portal:work", args=[network.work.id])
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "FDU Library" in client.get(work_page).content.decode()
    assert client.login(username=network.readers["USST"].username, password=PASSWORD)
    form = client.get(reverse("portal:request-new")).content.decode()
    assert "USST Library (English)" in form
