"""The interface language: Simplified Chinese unless the person chose otherwise.

The browser's Accept-Language is not consulted for pages: the consortium's pages are Chinese by
default, and English is one click away (and remembered for the person, so their mail follows
it). The HTTP API (/api/) follows the caller's Accept-Language first: a script says what it
reads.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import check_for_language, get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language


def _accepted(request: HttpRequest) -> list[str]:
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    return [code for code, _q in parse_accept_lang_header(header) if code != "*"]


def chosen_language(request: HttpRequest) -> str:
    candidates = [request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)]
    if request.path.startswith("/api/"):
        candidates = [*_accepted(request), *candidates]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        candidates.append(user.preferred_language)
    for code in candidates:
        if code and check_for_language(code):
            try:
                return get_supported_language_variant(code)
            except LookupError:
                continue
    return settings.LANGUAGE_CODE


class ChosenLanguageMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        translation.activate(chosen_language(request))
        request.LANGUAGE_CODE = translation.get_language()


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's switch, plus remembering the choice on the person's account."""
    response = django_set_language(request)
    if request.user.is_authenticated:
        from kede.accounts.services import user_set_language

        user_set_language(user=request.user, language=request.POST.get("language", ""))
    return response
