from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from kede.api import views

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("v1/search", views.SearchView.as_view(), name="search"),
    path("v1/articles", views.ArticlesView.as_view(), name="articles"),
    path("v1/works/<int:work_id>", views.WorkView.as_view(), name="work"),
    path("v1/institutions", views.InstitutionsView.as_view(), name="institutions"),
    path("v1/requests", views.RequestsView.as_view(), name="requests"),
    path("v1/requests/<int:request_id>", views.RequestView.as_view(), name="request"),
    path(
        "v1/requests/<int:request_id>/cancel",
        views.RequestCancelView.as_view(),
        name="request-cancel",
    ),
    path("v1/library/requests", views.LibraryRequestsView.as_view(), name="library-requests"),
]
