"""Union catalogue pages: a library's sources and loads (upload a file, follow its load, read
its report, download the CSV template), and the centre's field mappings, scope rule and
journal articles (upload article metadata and read what the load did).

A library's staff see their own library's sources and loads only (anything else is "not
found"); the centre sees every library's and alone edits mappings and the scope.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kede.accounts.selectors import institutions_for
from kede.catalog import article_services
from kede.catalog import selectors as catalog
from kede.catalog import services as catalog_services
from kede.catalog.articles import ARTICLE_CSV_HEADER
from kede.catalog.ingest import PRESETS, ConfigError, FieldMapping, preview, suggest_preset
from kede.catalog.ingest.scope import PRESETS as SCOPE_PRESETS
from kede.catalog.ingest.scope import SCHEMES, ScopeRule
from kede.catalog.ingest.template import CSV_COLUMNS, CSV_TEMPLATE_EXAMPLE
from kede.catalog.models import Article, IngestRun, IngestStatus, ScopePolicy, Source, SourceKind
from kede.consortium.models import Consortium, Institution

RUNS_PER_PAGE = 25
REJECTED_PER_PAGE = 50
SOURCES_PER_PAGE = 50

# The CSV template's columns, explained (the same words as the template module's help).
COLUMN_HELP = {
    "local_id": gettext_lazy(
        "Required. The title's number in your own list; the same number on every upload."
    ),
    "title": gettext_lazy("Required. The title as on the title page."),
    "author": gettext_lazy("Main author, 'Surname, Forename' or as written (王小明)."),
    "publisher": gettext_lazy("Publisher's name."),
    "year": gettext_lazy("Year of publication (2003, c2003, 民国89年)."),
    "isbn": gettext_lazy("ISBN-10 or ISBN-13; several separated by ';'."),
    "issn": gettext_lazy("ISSN for a journal or series."),
    "edition": gettext_lazy("Edition statement (2nd ed., 第2版)."),
    "language": gettext_lazy("Language code: chi, eng, jpn ... (zh, en, ja also accepted)."),
    "call_number": gettext_lazy("Your call number (K825.6/123, PL2658.E8)."),
    "location": gettext_lazy("Where it is shelved (branch or collection)."),
    "barcode": gettext_lazy("Item barcode; several separated by ';' (one per copy)."),
    "copies": gettext_lazy(
        "Number of copies (default 1); must match the barcodes when both are given."
    ),
}

OUTCOME_LABELS = {
    "accepted": gettext_lazy("kept"),
    "deleted": gettext_lazy("deleted by the library"),
    "rejected": gettext_lazy("rejected"),
}
CATEGORY_LABELS = {
    "in-scope": gettext_lazy("in the consortium's scope"),
    "unclassified": gettext_lazy("no class number the scope can judge"),
    "out-of-scope": gettext_lazy("outside the consortium's scope"),
    "unreadable": gettext_lazy("unreadable"),
    "no-title": gettext_lazy("no title"),
    "no-local-id": gettext_lazy("no local record id"),
}


# ---- access ---------------------------------------------------------------------------------


def _require_catalogue_staff(request: HttpRequest) -> None:
    if not catalog.institutions_managed(request.user).exists():
        raise PermissionDenied(_("This page is for the catalogue staff of member libraries."))


def _require_centre(request: HttpRequest) -> None:
    if not catalog.may_configure(request.user):
        raise PermissionDenied(_("Only the consortium centre may change this."))


def _source_or_404(request: HttpRequest, source_id: int) -> Source:
    try:
        return catalog.access_source(request.user, source_id)
    except Source.DoesNotExist:
        raise Http404 from None


def _run_or_404(request: HttpRequest, run_id: int) -> IngestRun:
    try:
        return catalog.access_run(request.user, run_id)
    except IngestRun.DoesNotExist:
        raise Http404 from None


# ---- sources, uploads and loads -------------------------------------------------------------


class UploadForm(forms.Form):
    source = forms.ChoiceField(label=gettext_lazy("Into"))
    file = forms.FileField(
        label=gettext_lazy("Catalogue file"),
        help_text=gettext_lazy(
            "MARC21 (ISO 2709, UTF-8 or MARC-8), MARCXML, MARC-in-JSON or the CSV template; "
            "gzipped or not. Sending your whole catalogue again is safe: unchanged records "
            "change nothing."
        ),
    )
    whole_catalogue = forms.BooleanField(
        label=gettext_lazy("This file is our whole catalogue"),
        required=False,
        help_text=gettext_lazy(
            "Titles of this source that the file no longer holds are withdrawn from the union "
            "catalogue. Nothing is withdrawn if the file lacks most of them (a partial export)."
        ),
    )

    def __init__(self, *args, user, fixed: Source | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if fixed is not None:
            choices = [(str(fixed.id), str(fixed))]
            self.fields["source"].widget = forms.HiddenInput()
            self.initial["source"] = str(fixed.id)
        else:
            sources = list(catalog.sources_visible_to(user).filter(is_active=True)[:500])
            choices = [(str(s.id), str(s)) for s in sources]
            have = {s.institution_id for s in sources if s.kind == SourceKind.UPLOAD}
            for inst in institutions_for(user, "catalogue.manage").order_by("code"):
                if inst.id not in have:
                    label = _("%(code)s: catalogue (new)") % {"code": inst.code}
                    choices.append((f"new:{inst.id}", label))
        self.fields["source"].choices = choices

    def chosen_source(self, user) -> Source:
        value = self.cleaned_data["source"]
        if value.startswith("new:"):
            try:
                inst = institutions_for(user, "catalogue.manage").get(id=int(value[4:]))
            except (Institution.DoesNotExist, ValueError):
                raise Http404 from None
            return catalog_services.default_source(inst)
        try:
            return catalog.access_source(user, int(value))
        except (Source.DoesNotExist, ValueError):
            raise Http404 from None


def _with_last_run(sources: list[Source]) -> list[Source]:
    for source in sources:
        source.last_run = catalog.runs_of(source).defer("report").first()
    return sources


@login_required
@require_GET
def catalogue_home(request: HttpRequest) -> HttpResponse:
    _require_catalogue_staff(request)
    return _render_home(request, UploadForm(user=request.user))


def _render_home(request: HttpRequest, form: UploadForm, status: int = 200) -> HttpResponse:
    page = Paginator(catalog.sources_visible_to(request.user), SOURCES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    _with_last_run(list(page.object_list))
    return render(
        request,
        "catalogue/home.html",
        {
            "sources": page,
            "form": form,
            "may_configure": catalog.may_configure(request.user),
            "scope": catalog_services.scope_rule(),
            "columns": [(c, COLUMN_HELP.get(c, "")) for c in CSV_COLUMNS],
        },
        status=status,
    )


@login_required
@require_POST
def catalogue_upload(request: HttpRequest) -> HttpResponse:
    _require_catalogue_staff(request)
    fixed = None
    if request.POST.get("fixed"):
        fixed = _source_or_404(request, _int(request.POST.get("source")))
    form = UploadForm(request.POST, request.FILES, user=request.user, fixed=fixed)
    if form.is_valid():
        source = form.chosen_source(request.user)
        try:
            run = catalog_services.catalogue_upload(
                source=source,
                upload=form.cleaned_data["file"],
                actor=request.user,
                replace=form.cleaned_data["whole_catalogue"],
            )
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            messages.success(
                request,
                _("“%(name)s” is queued for loading; this page shows how it goes.")
                % {"name": run.file_name},
            )
            return redirect("portal:catalogue-run", run_id=run.id)
    if fixed is not None:
        return _render_source(request, fixed, form, status=400)
    return _render_home(request, form, status=400)


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


@login_required
@require_GET
def source_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    source = _source_or_404(request, source_id)
    form = UploadForm(user=request.user, fixed=source)
    return _render_source(request, source, form)


def _render_source(
    request: HttpRequest, source: Source, form: UploadForm, status: int = 200
) -> HttpResponse:
    runs = Paginator(catalog.runs_of(source).defer("report"), RUNS_PER_PAGE)
    return render(
        request,
        "catalogue/source.html",
        {
            "source": source,
            "runs": runs.get_page(request.GET.get("page")),
            "form": form,
            "may_configure": catalog.may_configure(request.user),
            "harvest": source.harvest_state or {},
            "sets": source.oai_sets.split(),
        },
        status=status,
    )


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(request, run_id)
    report = run.report or {}
    rejected = Paginator(report.get("rejected", []), REJECTED_PER_PAGE)
    response = render(
        request,
        "catalogue/run.html",
        {
            "run": run,
            "source": run.source,
            "report": report,
            "in_progress": run.status in (IngestStatus.QUEUED, IngestStatus.RUNNING),
            "outcomes": [
                (OUTCOME_LABELS.get(k, k), v) for k, v in report.get("outcomes", {}).items()
            ],
            "categories": [
                (CATEGORY_LABELS.get(k, k), v)
                for k, v in sorted(report.get("categories", {}).items())
            ],
            "changes": [
                (_("records added"), run.records_added),
                (_("records updated"), run.records_updated),
                (_("records deleted"), run.records_deleted),
                (_("new works"), run.works_created),
                (_("works merged"), run.works_merged),
                (_("works split"), run.works_split),
            ],
            "category_labels": CATEGORY_LABELS,
            "rejected": rejected.get_page(request.GET.get("page")),
            "mapping_hint": "no-local-id" in report.get("categories", {}),
            "may_configure": catalog.may_configure(request.user),
        },
    )
    if run.status in (IngestStatus.QUEUED, IngestStatus.RUNNING):
        response["Refresh"] = "5"  # the page follows the load until it is done
    return response


@login_required
@require_GET
def csv_template(request: HttpRequest) -> HttpResponse:
    _require_catalogue_staff(request)
    response = HttpResponse(
        ("\ufeff" + CSV_TEMPLATE_EXAMPLE).encode("utf-8"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="kede-catalogue-template.csv"'
    return response


# ---- the centre: field mappings -------------------------------------------------------------

_MAPPING_TEXT_FIELDS = ("holdings_tag", "call_number", "location", "barcode", "copies",
                        "item_tag", "item_link", "item_barcode")  # fmt: skip


def _refs_text(refs: list) -> str:
    """Field places as typed: "001, 035$a|(Sirsi) " (a prefix after the bar)."""
    out = []
    for ref in refs:
        if isinstance(ref, dict):
            out.append(f"{ref.get('field', '')}|{ref.get('prefix', '')}")
        else:
            out.append(str(ref))
    return ", ".join(out)


def _refs_value(text: str) -> list:
    refs: list = []
    for part in text.split(","):
        if not part.strip():
            continue
        spec, bar, prefix = part.partition("|")
        refs.append({"field": spec.strip(), "prefix": prefix} if bar and prefix else spec.strip())
    return refs


class MappingForm(forms.Form):
    preset = forms.ChoiceField(label=gettext_lazy("Preset"), required=False)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100, required=False)
    local_id = forms.CharField(
        label=gettext_lazy("Local record id"),
        max_length=300,
        required=False,
        help_text=gettext_lazy(
            "Places tried in order, such as 001 or 999$c, 001; a value prefix after a bar: "
            "035$a|(Sirsi) "
        ),
    )
    holdings_tag = forms.CharField(
        label=gettext_lazy("Holdings field"),
        max_length=3,
        required=False,
        help_text=gettext_lazy("One per holding or item (852, 999, 952 …); empty: none."),
    )
    call_number = forms.CharField(label=gettext_lazy("Call number subfields"), required=False)
    location = forms.CharField(label=gettext_lazy("Location subfields"), required=False)
    barcode = forms.CharField(label=gettext_lazy("Barcode subfield"), required=False)
    copies = forms.CharField(label=gettext_lazy("Copies subfield"), required=False)
    item_tag = forms.CharField(label=gettext_lazy("Item field"), max_length=3, required=False)
    item_link = forms.CharField(
        label=gettext_lazy("Item link"),
        required=False,
        help_text=gettext_lazy("holdings-code=item-code, such as 8=0; empty: items follow."),
    )
    item_barcode = forms.CharField(label=gettext_lazy("Item barcode subfield"), required=False)
    call_number_fallback = forms.CharField(
        label=gettext_lazy("Call number elsewhere"),
        max_length=300,
        required=False,
        help_text=gettext_lazy("When the holdings field has none, such as 050$ab, 090$ab"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [("", _("Choose a preset"))] + [
            (key, mapping.name) for key, mapping in PRESETS.items()
        ]

    @staticmethod
    def initial_for(mapping: dict) -> dict:
        checked = catalog_services.mapping_from(mapping or None).to_dict()
        initial = {k: checked.get(k, "") for k in ("name", *_MAPPING_TEXT_FIELDS)}
        initial["local_id"] = _refs_text(checked["local_id"])
        initial["call_number_fallback"] = _refs_text(checked["call_number_fallback"])
        return initial

    def mapping(self) -> FieldMapping | None:
        """The mapping the fields describe, or None with every problem added to its field."""
        data = self.cleaned_data
        values = {k: data[k] for k in _MAPPING_TEXT_FIELDS}
        values["name"] = data["name"] or _("Custom mapping")
        values["local_id"] = _refs_value(data["local_id"])
        values["call_number_fallback"] = _refs_value(data["call_number_fallback"])
        try:
            return FieldMapping.from_dict(values)
        except ConfigError as exc:
            problems = list(exc.errors)
        # A field place that does not parse stops the check early: check the rest too, so
        # every problem shows at once.
        try:
            FieldMapping.from_dict(values | {"local_id": ["001"], "call_number_fallback": []})
        except ConfigError as exc:
            problems += [p for p in exc.errors if p not in problems]
        _add_named_errors(self, problems)
        return None


def _add_named_errors(form: forms.Form, errors: list[str], aliases: dict | None = None) -> None:
    """Problems a pure validator names by setting ("local_id: …"), each on its own field."""
    for problem in errors:
        setting, _sep, rest = problem.partition(":")
        name = (aliases or {}).get(setting.strip(), setting.strip())
        if name in form.fields and rest:
            form.add_error(name, rest.strip())
        else:
            form.add_error(None, problem)


@login_required
@require_http_methods(["GET", "POST"])
def source_mapping(request: HttpRequest, source_id: int) -> HttpResponse:
    """The centre sets where a source keeps its ids and holdings, checking the result on
    records of the source's latest load first."""
    source = _source_or_404(request, source_id)
    _require_centre(request)
    samples, sample_run = catalog.source_samples(source)
    mapping = None
    preset = request.POST.get("preset", "")
    if request.method == "POST" and "fill" in request.POST and preset in PRESETS:
        # the preset's settings in the fields, to check on the preview, adjust and save
        mapping = PRESETS[preset]
        form = MappingForm(initial=MappingForm.initial_for(mapping.to_dict()) | {"preset": preset})
    elif request.method == "POST":
        form = MappingForm(request.POST)
        if form.is_valid():
            mapping = form.mapping()
        if mapping is not None and "save" in request.POST:
            catalog_services.source_set_mapping(
                source=source, mapping=mapping.to_dict(), actor=request.user
            )
            messages.success(
                request,
                _("The field mapping of %(source)s is saved; the next load uses it.")
                % {"source": source},
            )
            return redirect("portal:catalogue-source", source_id=source.id)
    else:
        form = MappingForm(initial=MappingForm.initial_for(source.mapping))
        mapping = catalog_services.mapping_from(source.mapping or None)
    rows = preview(samples, mapping, limit=20) if mapping is not None and samples else []
    suggested = suggest_preset(samples) if samples else ""
    return render(
        request,
        "catalogue/mapping.html",
        {
            "source": source,
            "form": form,
            "rows": rows,
            "mapping": mapping,
            "sample_run": sample_run,
            "suggested": suggested,
            "suggested_name": PRESETS[suggested].name if suggested else "",
        },
        status=400 if request.method == "POST" and mapping is None else 200,
    )


# ---- the centre: the consortium's scope -----------------------------------------------------

_SCOPE_SIDES = ("include", "exclude")


class ScopeForm(forms.Form):
    preset = forms.ChoiceField(label=gettext_lazy("Preset"), required=False)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100, required=False)
    unclassified = forms.ChoiceField(
        label=gettext_lazy("Records with no class number"),
        choices=[("keep", gettext_lazy("Keep them")), ("reject", gettext_lazy("Reject them"))],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [("", _("Choose a preset"))] + [
            (key, rule.name) for key, rule in SCOPE_PRESETS.items()
        ]
        for side in _SCOPE_SIDES:
            for scheme, label in SCHEMES.items():
                self.fields[f"{side}_{scheme}"] = forms.CharField(
                    label=(_("Keep %(scheme)s") if side == "include" else _("Drop %(scheme)s"))
                    % {"scheme": label},
                    max_length=500,
                    required=False,
                )
        self.fields["include_clc"].help_text = _(
            "Ranges separated by commas, such as A-K, TP3 (CLC), 000-099, 370 (DDC), "
            "A-H, QA76-QA76.9 (LCC). No range kept: every class is kept."
        )

    @staticmethod
    def initial_for(rule: ScopeRule) -> dict:
        initial = {"name": rule.name, "unclassified": rule.unclassified}
        for side in _SCOPE_SIDES:
            for scheme, ranges in getattr(rule, side).items():
                initial[f"{side}_{scheme}"] = ", ".join(ranges)
        return initial

    def rule(self) -> dict:
        data = self.cleaned_data
        rule: dict = {
            "name": data["name"] or _("Custom scope"),
            "unclassified": data["unclassified"],
        }
        for side in _SCOPE_SIDES:
            rule[side] = {
                scheme: [r.strip() for r in data[f"{side}_{scheme}"].split(",") if r.strip()]
                for scheme in SCHEMES
                if data[f"{side}_{scheme}"].strip()
            }
        return rule


def _consortium() -> Consortium | None:
    policy = ScopePolicy.objects.select_related("consortium").first()
    return policy.consortium if policy else Consortium.objects.order_by("id").first()


@login_required
@require_http_methods(["GET", "POST"])
def scope_edit(request: HttpRequest) -> HttpResponse:
    """The centre says which classes the union catalogue keeps (from the next load on)."""
    _require_centre(request)
    current = catalog_services.scope_rule()
    preset = request.POST.get("preset", "")
    status = 200
    if request.method == "POST" and "fill" in request.POST and preset in SCOPE_PRESETS:
        form = ScopeForm(initial=ScopeForm.initial_for(SCOPE_PRESETS[preset]) | {"preset": preset})
    elif request.method == "POST":
        form = ScopeForm(request.POST)
        if form.is_valid():
            rule = form.rule()
            try:
                ScopeRule.from_dict(rule)
            except ConfigError as exc:
                aliases = {f"{side}.{s}": f"{side}_{s}" for side in _SCOPE_SIDES for s in SCHEMES}
                _add_named_errors(form, exc.errors, aliases)
            else:
                consortium = _consortium()
                if consortium is None:
                    raise Http404
                try:
                    catalog_services.scope_set(consortium=consortium, rule=rule, actor=request.user)
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    messages.success(request, _("The scope is saved; the next loads follow it."))
                    return redirect("portal:catalogue-scope")
        status = 400
    else:
        form = ScopeForm(initial=ScopeForm.initial_for(current))
    return render(
        request,
        "catalogue/scope.html",
        {"form": form, "current": current, "policy": ScopePolicy.objects.first()},
        status=status,
    )


# ---- the centre: journal articles -----------------------------------------------------------

ARTICLE_REJECTIONS_LISTED = 500


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or more files (Django's own recipe): cleaned to a list."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single_file_clean = super().clean
        if isinstance(data, (list, tuple)) and data:
            return [single_file_clean(one, initial) for one in data]
        return [single_file_clean(data or None, initial)]  # none: "This field is required."


class ArticleUploadForm(forms.Form):
    files = MultipleFileField(
        label=gettext_lazy("Article files"),
        help_text=gettext_lazy(
            "Crossref JSON (a work or a list of works), JATS or PubMed XML, or the article CSV "
            "template; several files at once, gzipped, or in a zip or tar archive. Loading a "
            "file again updates its articles: nothing is stored twice."
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def articles_upload(request: HttpRequest) -> HttpResponse:
    """The centre loads article metadata and reads at once what the load did."""
    _require_centre(request)
    loads = None
    status = 200
    if request.method == "POST":
        form = ArticleUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                loads = article_services.articles_upload(
                    files=form.cleaned_data["files"], actor=request.user
                )
            except ValidationError as exc:
                form.add_error("files", exc)
        if loads is None:
            status = 400
    else:
        form = ArticleUploadForm()
    context: dict = {"form": form, "loads": loads, "csv_columns": ", ".join(ARTICLE_CSV_HEADER)}
    if loads is not None:
        total = article_services.ArticleLoad()
        for _name, load in loads:
            total.add(load)
        context.update(
            {
                "total": total,
                "counts": [
                    (_("records read"), total.read),
                    (_("new articles stored"), total.stored),
                    (_("articles updated"), total.updated),
                    (_("attached to their journal"), total.attached),
                    (_("waiting for their journal"), total.unattached),
                    (_("rejected"), len(total.rejected)),
                ],
                "files": [
                    {
                        "name": name,
                        "load": load,
                        # nothing in it was an article: the first reason says why
                        "unreadable": load.rejected[0][2]
                        if load.rejected and not (load.stored or load.updated)
                        else "",
                    }
                    for name, load in loads
                ],
                "rejected": total.rejected[:ARTICLE_REJECTIONS_LISTED],
                "unlisted": max(0, len(total.rejected) - ARTICLE_REJECTIONS_LISTED),
                "waiting": Article.objects.filter(journal__isnull=True).count(),
            }
        )
    return render(request, "catalogue/articles.html", context, status=status)
