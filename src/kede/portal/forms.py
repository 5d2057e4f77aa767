import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kede.core.identifiers import normalise_doi, normalise_isbn, normalise_issn
from kede.ill.models import CopyProblem, UnfilledReason

_YEAR = re.compile(r"[0-9]{4}")  # ASCII digits only: str.isdigit() also accepts '¹'
_PAGES = re.compile(
    r"^[0-9A-Za-z]+(\s*[-–]\s*[0-9A-Za-z]+)?(\s*,\s*[0-9A-Za-z]+(\s*[-–]\s*[0-9A-Za-z]+)?)*$"
)


class ServiceForm(forms.Form):
    """Copy or loan, and by when: what the request asks of the supplier, apart from the
    citation."""

    service_type = forms.ChoiceField(
        label=_("What you need"),
        choices=[
            ("copy", _("A copy of an article or chapter (PDF)")),
            ("loan", _("To borrow the book itself")),
        ],
        initial="copy",
        required=False,
        widget=forms.RadioSelect,
    )
    needed_by = forms.DateField(
        label=_("Needed by"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty if there is no deadline."),
    )

    def clean_service_type(self) -> str:
        return self.cleaned_data["service_type"] or "copy"

    def clean_needed_by(self):
        day = self.cleaned_data["needed_by"]
        if day is not None and day < timezone.localdate():
            raise ValidationError(_("The date you need it by has already passed."))
        return day


class CitationForm(forms.Form):
    title = forms.CharField(label=_("Article or chapter title"), max_length=1000)
    author = forms.CharField(label=_("Author"), max_length=500, required=False)
    container_title = forms.CharField(label=_("Journal or book"), max_length=1000, required=False)
    volume = forms.CharField(label=_("Volume"), max_length=50, required=False)
    issue = forms.CharField(label=_("Issue"), max_length=50, required=False)
    year = forms.CharField(label=_("Year"), max_length=4, required=False)
    pages = forms.CharField(label=_("Pages"), max_length=50, required=False,
                            help_text=_("e.g. 45-67"))  # fmt: skip
    issn = forms.CharField(label=_("ISSN"), max_length=20, required=False)
    isbn = forms.CharField(label=_("ISBN"), max_length=20, required=False)
    doi = forms.CharField(label=_("DOI"), max_length=200, required=False)
    note = forms.CharField(label=_("Note to the library"), required=False,
                           widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)  # fmt: skip

    def clean_year(self) -> str:
        year = self.cleaned_data["year"].strip()
        if not year:
            return ""
        this_year = timezone.localdate().year
        if not _YEAR.fullmatch(year) or not 1400 <= int(year) <= this_year + 1:
            raise ValidationError(
                _("Give the year as four digits, between 1400 and %(max)s.")
                % {"max": this_year + 1}
            )
        return year

    def clean_pages(self) -> str:
        pages = self.cleaned_data["pages"].strip()
        if pages and not _PAGES.match(pages):
            raise ValidationError(_("Give pages as a number or a range, e.g. 45-67 or 3, 9-12."))
        return pages

    def clean_issn(self) -> str:
        raw = self.cleaned_data["issn"].strip()
        if not raw:
            return ""
        issn = normalise_issn(raw)
        if issn is None:
            raise ValidationError(
                _(
                    "“%(value)s” is not a valid ISSN: it has 8 characters, the last a check digit "
                    "(e.g. 0028-0836)."
                )
                % {"value": raw}
            )
        return issn

    def clean_isbn(self) -> str:
        raw = self.cleaned_data["isbn"].strip()
        if not raw:
            return ""
        isbn = normalise_isbn(raw)
        if isbn is None:
            raise ValidationError(
                _("“%(value)s” is not a valid ISBN: check the 10 or 13 digits.") % {"value": raw}
            )
        return isbn

    def clean_doi(self) -> str:
        raw = self.cleaned_data["doi"].strip()
        if not raw:
            return ""
        doi = normalise_doi(raw)
        if doi is None:
            raise ValidationError(
                _(
                    "“%(value)s” is not a DOI: a DOI starts with 10. and has a slash, "
                    "e.g. 10.1000/xyz123."
                )
                % {"value": raw}
            )
        return doi

    def clean(self) -> dict:
        data = super().clean()
        # A book to borrow is its own title; a copy must say what it was published in.
        borrowing = self.data.get("service_type") == "loan"
        if not borrowing and not any(
            data.get(f) for f in ("container_title", "issn", "isbn", "doi")
        ):
            raise ValidationError(
                _("Say where it was published: the journal or book, or its ISSN, ISBN or DOI.")
            )
        return data


class RefuseForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why it cannot be supplied"), choices=UnfilledReason.choices)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or more files, in the order chosen."""

    max_files = 200

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": ".pdf,.tif,.tiff,.jpg,.jpeg,.png"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        items = data if isinstance(data, list | tuple) else [data]
        if len(items) > self.max_files:
            raise ValidationError(
                _("Upload at most %(max)s files at once.") % {"max": self.max_files}
            )
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


class DeliverForm(forms.Form):
    file = MultipleFileField(
        label=_("Copy (PDF)"),
        help_text=_(
            "One PDF, or several PDFs and TIFF/JPEG/PNG page scans: they are put together in "
            "the order chosen, with a cover page and a footer for the reader."
        ),
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class CancelForm(forms.Form):
    note = forms.CharField(label=_("Reason (optional)"), max_length=500, required=False)


class ProblemForm(forms.Form):
    problem = forms.ChoiceField(label=_("What is wrong with the copy"), choices=CopyProblem.choices)
    note = forms.CharField(
        label=_("Details for the library"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("e.g. pages 12-13 are missing, or the scan is cut off"),
    )
