from django.urls import path

from kede.portal import ebook_views, lifecycle_views, ppv_views, routing_views, staff_views, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("works/<int:work_id>/", views.work_detail, name="work"),
    path("requests/", views.my_requests, name="my-requests"),
    path("requests/new/", views.request_new, name="request-new"),
    path("requests/<int:request_id>/", views.request_detail, name="request-detail"),
    path("requests/<int:request_id>/cancel/", views.request_cancel, name="request-cancel"),
    path(
        "requests/<int:request_id>/problem/",
        views.request_report_problem,
        name="request-problem",
    ),
    path("files/<int:copy_id>/<str:token>/", views.copy_download, name="copy-download"),
    path("staff/", staff_views.dashboard, name="staff"),
    path("staff/supply/<int:supply_id>/", staff_views.supply_detail, name="staff-supply"),
    path("staff/supply/<int:supply_id>/accept/", staff_views.supply_accept, name="staff-accept"),
    path("staff/supply/<int:supply_id>/refuse/", staff_views.supply_refuse, name="staff-refuse"),
    path("staff/supply/<int:supply_id>/deliver/", staff_views.supply_deliver, name="staff-deliver"),
    path("staff/requests/<int:request_id>/", staff_views.borrowing_detail, name="staff-borrowing"),
    path(
        "staff/requests/<int:request_id>/cancel/",
        staff_views.borrowing_cancel,
        name="staff-borrowing-cancel",
    ),
    path("staff/supply/bulk-accept/", staff_views.bulk_accept, name="staff-bulk-accept"),
    path("staff/slips/", staff_views.pull_slips, name="staff-slips"),
    path("staff/labels/", lifecycle_views.shipping_labels, name="staff-labels"),
    path(
        "staff/supply/bulk/<slug:step>/",
        lifecycle_views.bulk_supply_step,
        name="staff-bulk-step",
    ),
    path(
        "staff/supply/<int:supply_id>/step/<slug:step>/",
        lifecycle_views.supply_step,
        name="staff-supply-step",
    ),
    path(
        "staff/requests/<int:request_id>/step/<slug:step>/",
        lifecycle_views.borrowing_step,
        name="staff-borrowing-step",
    ),
    path(
        "requests/<int:request_id>/step/<slug:step>/",
        lifecycle_views.reader_step,
        name="request-step",
    ),
    path("staff/readers/", staff_views.readers, name="staff-readers"),
    path(
        "staff/readers/<int:membership_id>/<str:decision>/",
        staff_views.reader_decide,
        name="staff-reader-decide",
    ),
    path("ebooks/", ebook_views.ebook_list, name="ebooks"),
    path("ebooks/mine/", ebook_views.my_ebooks, name="my-ebooks"),
    path("ebooks/<int:title_id>/", ebook_views.ebook_detail, name="ebook"),
    path("ebooks/<int:title_id>/borrow/", ebook_views.ebook_borrow, name="ebook-borrow"),
    path("ebooks/<int:title_id>/hold/", ebook_views.ebook_place_hold, name="ebook-hold"),
    path(
        "ebooks/holds/<int:hold_id>/cancel/",
        ebook_views.ebook_cancel_hold,
        name="ebook-hold-cancel",
    ),
    path("ebooks/loans/<int:loan_id>/renew/", ebook_views.ebook_renew, name="ebook-renew"),
    path("ebooks/loans/<int:loan_id>/return/", ebook_views.ebook_return, name="ebook-return"),
    path(
        "ebooks/loans/<int:loan_id>/download/<str:token>/",
        ebook_views.ebook_download,
        name="ebook-download",
    ),
    path("articles/", ppv_views.ppv_find, name="ppv-find"),
    path("articles/for-request/<int:request_id>/", ppv_views.ppv_for_request, name="ppv-request"),
    path("articles/<int:offer_id>/buy/", ppv_views.ppv_confirm, name="ppv-confirm"),
    path("articles/purchases/", ppv_views.ppv_purchases, name="ppv-purchases"),
    path("articles/purchases/<int:purchase_id>/", ppv_views.ppv_purchase, name="ppv-purchase"),
    path(
        "articles/files/<int:purchase_id>/<str:token>/",
        ppv_views.ppv_download,
        name="ppv-download",
    ),
    path("staff/vendors/", ppv_views.ppv_manage, name="ppv-manage"),
    path(
        "staff/requests/<int:request_id>/rota/",
        routing_views.rota,
        name="routing-rota",
    ),
    path("staff/routing/policy/", routing_views.policy, name="routing-policy"),
]
