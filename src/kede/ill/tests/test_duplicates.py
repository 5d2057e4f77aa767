"""A reader asking again for what they already asked for is warned and shown the earlier request."""

import pytest
from django.urls import reverse

from kede.conftest import PASSWORD
from kede.ill import services
from kede.ill.models import Request
from kede.ill.selectors import earlier_requests_like

pytestmark = pytest.mark.django_db


def ask(network, **citation):
    fields = {"title": "On class", "container_title": "Past & present"}
    fields.update(citation)
    return services.request_submit(
        actor=network.readers["USST"], citation=services.Citation(**fields), work=network.serial
    )


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ({"doi": "10.1093/past/12.1.3"}, {"title": "Other words", "doi": "10.1093/PAST/12.1.3"}),
        (
            {"issn": "0031-2746", "volume": "12", "pages": "3-25"},
            {"title": "Different", "issn": "0031-2746", "volume": "12", "pages": "3 – 25"},
        ),
        ({"title": "On Class, Again!"}, {"title": "on class,  again!"}),
    ],
)
def test_the_same_citation_is_found(network, first, again):
    earlier = ask(network, **first)
    found = earlier_requests_like(network.readers["USST"], **{"title": "", **again})
    assert found == [earlier]


def test_other_citations_and_other_readers_are_not_duplicates(network):
    ask(network, doi="10.1093/past/12.1.3", title="A")
    assert earlier_requests_like(network.readers["USST"], doi="10.1093/past/99", title="B") == []
    assert earlier_requests_like(network.readers["FDU"], doi="10.1093/past/12.1.3") == []


def test_a_cancelled_request_does_not_count(network):
    earlier = ask(network, title="Gone")
    services.request_cancel(actor=network.readers["USST"], request=earlier)
    assert earlier_requests_like(network.readers["USST"], title="Gone") == []


def test_the_form_warns_then_sends_when_the_reader_insists(client, network):
    # given an earlier request for the same title
    earlier = ask(network, title="The moral economy")
    assert client.login(username=network.readers["USST"].username, password=PASSWORD)
    data = {"title": "The moral economy", "container_title": "Past & present"}
    # when the reader sends the same citation
    page = client.post(reverse("portal:request-new"), data)
    # then they are warned, shown the earlier request, and nothing new is created
    assert page.status_code == 200
    assert earlier.number in page.content.decode()
    assert Request.objects.count() == 1
    # when they confirm
    sent = client.post(reverse("portal:request-new"), {**data, "confirm_duplicate": "1"})
    # then a new request is made
    assert sent.status_code == 302
    assert Request.objects.count() == 2
