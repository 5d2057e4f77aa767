"""The HTTP API: thin views over the catalogue's and the requests' selectors and services.
Institution data is scoped by the same selectors the pages use: a reader sees their own
requests, library staff their libraries' borrowing requests, and "not yours" is a 404 like
"does not exist"."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request as ApiRequest
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from kede.api import serializers as s
from kede.catalog import selectors as catalog
from kede.catalog.models import Work
from kede.catalog.search import QueryError
from kede.consortium.selectors import institutions_active
from kede.core.statemachine import TransitionError
from kede.ill import selectors as ill
from kede.ill import services as ill_services
from kede.ill.models import Request
from kede.portal.forms import CitationForm, ServiceForm


def exception_handler(exc, context):
    """Django's own refusals (a service's ValidationError or PermissionDenied) as JSON with
    the same status a page would give."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)


def _params(request: ApiRequest, serializer_class) -> dict:
    """Query parameters, a repeated one as a list."""
    data = {}
    for name, field in serializer_class().fields.items():
        if name not in request.query_params:
            continue
        if isinstance(field, s.serializers.ListField):
            data[name] = request.query_params.getlist(name)
        else:
            data[name] = request.query_params[name]
    checked = serializer_class(data=data)
    checked.is_valid(raise_exception=True)
    return checked.validated_data


class SearchView(APIView):
    """Ranked search of the union catalogue, with who holds each hit."""

    @extend_schema(parameters=[s.SearchParams], responses=s.SearchResult)
    def get(self, request: ApiRequest) -> Response:
        p = _params(request, s.SearchParams)
        levels = dict(catalog.search_levels(request.user))
        if p["level"] not in levels:
            raise exceptions.ValidationError(
                {"level": "Only a signed-in reader of a member library has a library and a region."}
            )
        scope = levels[p["level"]]
        if scope and (p.get("holder") or p.get("region")):
            raise exceptions.ValidationError(
                {"level": "Give either a level or holders and regions, not both."}
            )
        held_by = tuple(scope.get("held_by", ())) or tuple(c.upper() for c in p.get("holder", ()))
        regions = tuple(scope.get("regions", ())) or tuple(p.get("region", ()))
        filters = {
            "formats": tuple(p.get("format", ())),
            "languages": tuple(p.get("language", ())),
            "year_from": p.get("year_from"),
            "year_to": p.get("year_to"),
        }
        try:
            page = catalog.works_search(
                p["q"],
                page=p["page"],
                per_page=p["page_size"],
                held_by=held_by,
                regions=regions,
                facets=tuple(dict.fromkeys(p["facets"])),
                sort=p["sort"],
                **filters,
            )
            counts = {
                name: catalog.works_count(p["q"], **{**level_filters, **_tuples(filters)})
                for name, level_filters in levels.items()
            }
        except QueryError as exc:
            raise exceptions.ValidationError({"q": str(exc)}) from None
        holdings = catalog.holdings_by_work([w.id for w in page.works])
        hits = []
        for work in page.works:
            hit = s.WorkSerializer(work).data
            found = holdings.get(work.id, [])
            hit["holders"] = sorted({h.institution.code for h in found})
            hit["holdings"] = s.HoldingSerializer(found, many=True).data
            hits.append(hit)
        body = {
            "query": p["q"],
            "total": page.total,
            "page": page.number,
            "page_size": page.per_page,
            "levels": counts,
            "problems": list(page.problems),
            "facets": {
                name: [{"value": v, "count": n} for v, n in values]
                for name, values in page.facets.items()
            },
            "hits": hits,
        }
        return Response(body)


def _tuples(filters: dict) -> dict:
    """The filters `works_count` takes (tuples of values; years only when given)."""
    return {k: v for k, v in filters.items() if v not in (None, ())}


class ArticlesView(APIView):
    """Journal articles, each with the member libraries whose run of its journal includes it."""

    @extend_schema(parameters=[s.ArticleParams], responses=s.ArticleResult)
    def get(self, request: ApiRequest) -> Response:
        p = _params(request, s.ArticleParams)
        try:
            page = catalog.articles_search(p["q"], page=p["page"], per_page=p["page_size"])
        except QueryError as exc:
            raise exceptions.ValidationError({"q": str(exc)}) from None
        hits = []
        for hit in page.hits:
            row = s.ArticleSerializer(hit.article).data
            row["holders"] = [{"institution": c, "coverage": state} for c, state in hit.holders]
            hits.append(row)
        body = {"query": p["q"], "total": page.total, "page": page.number}
        return Response(body | {"page_size": page.per_page, "hits": hits})


class WorkView(APIView):
    """One work: how it is shown, and every member library that holds it, where."""

    @extend_schema(responses=s.WorkDetail)
    def get(self, request: ApiRequest, work_id: int) -> Response:
        try:
            work = catalog.work_get(work_id)
        except Work.DoesNotExist:
            raise Http404 from None
        body = s.WorkSerializer(work).data
        body["holdings"] = s.HoldingSerializer(catalog.work_holdings(work), many=True).data
        return Response(body)


class InstitutionsView(APIView):
    """The member libraries and partners, with what each supplies and how fast it answers."""

    @extend_schema(responses=s.InstitutionSerializer(many=True))
    def get(self, request: ApiRequest) -> Response:
        institutions = institutions_active().select_related("region", "service_profile")
        rows = []
        for institution in institutions:
            row = {
                "code": institution.code,
                "name": institution.name,
                "name_en": getattr(institution, "name_en", ""),
                "region": institution.region.code,
                "region_group": institution.region.group,
                "type": institution.type,
            }
            profile = getattr(institution, "service_profile", None)
            row |= {
                "supplies_copies": profile.supplies_copies if profile else False,
                "lends_books": profile.lends_books if profile else False,
                "response_days": profile.response_days if profile else None,
            }
            rows.append(row)
        return Response(rows)


class _Paged:
    page_size = 50

    def paged(self, request: ApiRequest, queryset) -> dict:
        raw = request.query_params.get("page", "1")
        if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise exceptions.ValidationError({"page": "A whole number from 1."})
        number = int(raw)
        total = queryset.count()
        rows = queryset[(number - 1) * self.page_size : number * self.page_size]
        return {
            "total": total,
            "page": number,
            "page_size": self.page_size,
            "results": s.RequestSerializer(rows, many=True).data,
        }


class RequestsView(_Paged, APIView):
    """The signed-in reader's own requests; a new one."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("page", int)], responses=s.RequestSerializer(many=True)
    )
    def get(self, request: ApiRequest) -> Response:
        return Response(self.paged(request, ill.requests_of_reader(request.user)))

    @extend_schema(request=s.RequestCreate, responses={201: s.RequestSerializer})
    def post(self, request: ApiRequest) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        shape = s.RequestCreate(data=body)
        shape.is_valid(raise_exception=True)
        citation = CitationForm(data=body)
        service = ServiceForm(data=body)
        if not (citation.is_valid() and service.is_valid()):
            errors = {**citation.errors, **service.errors}
            if "__all__" in errors:
                errors["non_field_errors"] = errors.pop("__all__")
            raise exceptions.ValidationError(errors)
        if not shape.validated_data["confirm_duplicate"]:
            earlier = ill.earlier_requests_like(
                request.user,
                **{
                    k: citation.cleaned_data[k] for k in ("doi", "issn", "volume", "pages", "title")
                },
            )
            if earlier:
                return Response(
                    {
                        "detail": "You have asked for this already; send again with "
                        '"confirm_duplicate": true to ask once more.',
                        "earlier": s.RequestSerializer(earlier, many=True).data,
                    },
                    status=status.HTTP_409_CONFLICT,
                )
        work = None
        if shape.validated_data.get("work") is not None:
            work = catalog.works_by_ids([shape.validated_data["work"]]).first()
            if work is None:
                raise exceptions.ValidationError({"work": "No such work."})
        created = ill_services.request_submit(
            actor=request.user,
            citation=ill_services.Citation(**citation.cleaned_data),
            work=work,
            service_type=service.cleaned_data["service_type"],
            needed_by=service.cleaned_data["needed_by"],
        )
        created.refresh_from_db()
        return Response(s.RequestSerializer(created).data, status=status.HTTP_201_CREATED)


def _own_request(user, request_id: int) -> Request:
    try:
        return ill.access_request_as_reader(user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None


class RequestView(APIView):
    """One of the signed-in reader's requests."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.RequestSerializer)
    def get(self, request: ApiRequest, request_id: int) -> Response:
        return Response(s.RequestSerializer(_own_request(request.user, request_id)).data)


class RequestCancelView(APIView):
    """Cancel one of the signed-in reader's requests (at once while the supplier has not
    started; once it has, the supplier is asked)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.CancelBody, responses=s.RequestSerializer)
    def post(self, request: ApiRequest, request_id: int) -> Response:
        own = _own_request(request.user, request_id)
        body = s.CancelBody(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        try:
            ill_services.request_cancel(
                actor=request.user, request=own, note=body.validated_data["note"]
            )
        except TransitionError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        own.refresh_from_db()
        return Response(s.RequestSerializer(own).data)


class LibraryRequestsView(_Paged, APIView):
    """Library staff: their libraries' borrowing requests (their readers', no one else's)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("state", str)],
        responses=s.RequestSerializer(many=True),
    )
    def get(self, request: ApiRequest) -> Response:
        rows = ill.borrowing_requests_for(request.user)
        if request.query_params.get("state"):
            rows = rows.filter(state=request.query_params["state"])
        return Response(self.paged(request, rows))
