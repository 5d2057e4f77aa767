from django.contrib import admin
from django.urls import include, path

from kede.core.i18n import set_language
from kede.ill.views import iso18626_copy, iso18626_endpoint

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/setlang/", set_language, name="set_language"),
    path("accounts/", include("kede.accounts.urls")),
    path("api/", include("kede.api.urls")),
    path("iso18626", iso18626_endpoint, name="iso18626"),
    path("iso18626/copies/<str:token>", iso18626_copy, name="iso18626-copy"),
    path("", include("kede.portal.urls")),
]
