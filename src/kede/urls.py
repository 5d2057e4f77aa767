from django.contrib import admin
from django.urls import include, path

from kede.core.i18n import set_language

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/setlang/", set_language, name="set_language"),
    path("accounts/", include("kede.accounts.urls")),
    path("", include("kede.portal.urls")),
]
