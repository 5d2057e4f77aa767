"""The ISO 18626 endpoint other systems post their messages to, and the address they fetch a
delivered copy from."""

from __future__ import annotations

import logging

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from kede.ill import messaging
from kede.protocols import iso18626 as iso

logger = logging.getLogger(__name__)


@csrf_exempt
def iso18626_endpoint(request: HttpRequest) -> HttpResponse:
    """Every message is confirmed on the same connection: OK, or ERROR with errorData."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    body = request.read(iso.MAX_BYTES + 1)
    try:
        answer = messaging.receive(body)
    except messaging.NotAMessage as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    except iso.Iso18626Error as exc:
        # Not even a header to echo: nothing can be confirmed.
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    return HttpResponse(answer, content_type="application/xml; charset=utf-8")


def iso18626_copy(request: HttpRequest, token: str) -> HttpResponse:
    """A copy delivered to a library on another system, fetched by that system's worker
    with the signed address sent in the CopyCompleted message."""
    copy = messaging.copy_for_token(token)
    if copy is None:
        return HttpResponse(
            "This copy link is not valid or has expired.",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    return FileResponse(copy.file.open("rb"), content_type="application/pdf")
