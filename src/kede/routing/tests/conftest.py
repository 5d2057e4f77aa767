"""The routing tests read the centre's reasons and errors in English, whatever the site's
default language (pages choose theirs through the language switch)."""

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield
