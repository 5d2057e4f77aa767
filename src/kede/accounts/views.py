from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from kede.accounts.forms import RegistrationForm
from kede.accounts.services import reader_register


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            membership = reader_register(
                username=data["username"],
                password=data["password1"],
                email=data["email"],
                full_name=data["full_name"],
                institution=data["institution"],
                reader_category=data["reader_category"],
                department=data["department"],
                preferred_language=translation.get_language() or "zh-hans",
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                _("Registered. %(library)s will check and approve your account.")
                % {"library": membership.institution.name},
            )
            return redirect("portal:home")
    return render(request, "accounts/register.html", {"form": form})
