from django.http import HttpRequest

from kede.accounts import selectors as people
from kede.accounts.models import Role


def navigation(request: HttpRequest) -> dict:
    user = request.user
    if not user.is_authenticated:
        return {}
    return {
        "nav_is_reader": people.reader_membership(user) is not None,
        "nav_is_staff": people.has_any_role(
            user, Role.ILL_STAFF, Role.INSTITUTION_ADMIN, Role.REGION_ADMIN, Role.CENTRE_ADMIN
        ),
        "nav_pending": people.pending_reader_membership(user),
    }
