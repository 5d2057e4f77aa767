"""What the API reads and writes, as JSON. Reading shapes only: validation of what callers
send is the pages' own (the same forms), so the API and the pages accept the same things."""

from __future__ import annotations

from rest_framework import serializers

from kede.catalog.search.engine import FACETS, SORTS


class SearchParams(serializers.Serializer):
    q = serializers.CharField(
        max_length=300,
        help_text='Words, "phrases", title: author: subject: isbn: issn: publisher: prefixes, '
        "AND/OR/NOT; Chinese, Japanese and Korean in traditional or simplified characters.",
    )
    level = serializers.ChoiceField(
        choices=["library", "region", "all"],
        default="all",
        help_text="The signed-in reader's own library, its region, or every member.",
    )
    format = serializers.ListField(child=serializers.CharField(max_length=20), required=False)
    language = serializers.ListField(child=serializers.CharField(max_length=8), required=False)
    holder = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, help_text="Holder codes."
    )
    region = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    year_from = serializers.IntegerField(required=False, min_value=-9999, max_value=9999)
    year_to = serializers.IntegerField(required=False, min_value=-9999, max_value=9999)
    sort = serializers.ChoiceField(choices=list(SORTS), default="relevance")
    facets = serializers.ListField(
        child=serializers.ChoiceField(choices=FACETS), required=False, default=list
    )
    page = serializers.IntegerField(default=1, min_value=1, max_value=500)
    page_size = serializers.IntegerField(default=20, min_value=1, max_value=100)

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("year_from"), attrs.get("year_to")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"year_to": "year_to is before year_from."})
        return attrs


class HoldingSerializer(serializers.Serializer):
    institution = serializers.CharField(source="institution.code")
    institution_name = serializers.CharField(source="institution.name")
    region = serializers.CharField(source="institution.region.code")
    call_number = serializers.CharField()
    location = serializers.CharField()
    copies = serializers.IntegerField()
    holdings_statement = serializers.CharField(source="coverage_text")


class WorkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    title_vernacular = serializers.CharField()
    author = serializers.CharField()
    publisher = serializers.CharField()
    year = serializers.CharField()
    edition = serializers.CharField()
    format = serializers.CharField()
    language = serializers.CharField()
    isbn = serializers.CharField()
    issn = serializers.CharField()
    lccn = serializers.CharField()
    oclc = serializers.CharField()
    classification = serializers.CharField()


class HitSerializer(WorkSerializer):
    holders = serializers.ListField(child=serializers.CharField())
    holdings = HoldingSerializer(many=True)


class FacetValue(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()


class SearchResult(serializers.Serializer):
    query = serializers.CharField()
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    levels = serializers.DictField(child=serializers.IntegerField())
    problems = serializers.ListField(child=serializers.CharField())
    facets = serializers.DictField(child=FacetValue(many=True))
    hits = HitSerializer(many=True)


class WorkDetail(WorkSerializer):
    holdings = HoldingSerializer(many=True)


class InstitutionSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    name_en = serializers.CharField()
    region = serializers.CharField(source="region.code")
    region_group = serializers.CharField(source="region.group")
    type = serializers.CharField()
    supplies_copies = serializers.BooleanField(source="service_profile.supplies_copies")
    lends_books = serializers.BooleanField(source="service_profile.lends_books")
    response_days = serializers.IntegerField(source="service_profile.response_days")


class RequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    service_type = serializers.CharField()
    state = serializers.CharField()
    state_label = serializers.CharField(source="get_state_display")
    requester = serializers.CharField(source="requester.code")
    work = serializers.IntegerField(source="work_id", allow_null=True)
    title = serializers.CharField()
    author = serializers.CharField()
    container_title = serializers.CharField()
    volume = serializers.CharField()
    issue = serializers.CharField()
    year = serializers.CharField()
    pages = serializers.CharField()
    issn = serializers.CharField()
    isbn = serializers.CharField()
    doi = serializers.CharField()
    note = serializers.CharField()
    needed_by = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RequestCreate(serializers.Serializer):
    """The body of a new request: the citation and what is wanted (checked as the request
    page checks them)."""

    title = serializers.CharField(max_length=1000)
    author = serializers.CharField(max_length=500, required=False)
    container_title = serializers.CharField(max_length=1000, required=False)
    volume = serializers.CharField(max_length=50, required=False)
    issue = serializers.CharField(max_length=50, required=False)
    year = serializers.CharField(max_length=4, required=False)
    pages = serializers.CharField(max_length=50, required=False)
    issn = serializers.CharField(max_length=20, required=False)
    isbn = serializers.CharField(max_length=20, required=False)
    doi = serializers.CharField(max_length=200, required=False)
    note = serializers.CharField(max_length=2000, required=False)
    work = serializers.IntegerField(required=False, help_text="The work asked for, if known.")
    service_type = serializers.ChoiceField(choices=["copy", "loan"], default="copy")
    needed_by = serializers.DateField(required=False)
    confirm_duplicate = serializers.BooleanField(
        default=False, help_text="Ask again although an earlier request looks the same."
    )


class CancelBody(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, default="")


class ArticleParams(serializers.Serializer):
    q = serializers.CharField(max_length=300, help_text="Title or author words, a DOI, issn:…")
    page = serializers.IntegerField(default=1, min_value=1, max_value=500)
    page_size = serializers.IntegerField(default=20, min_value=1, max_value=100)


class ArticleHolder(serializers.Serializer):
    institution = serializers.CharField()
    coverage = serializers.ChoiceField(
        choices=["covered", "unknown"],
        help_text="Whether its run of the journal includes the article's volume or year.",
    )


class ArticleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    authors = serializers.ListField(child=serializers.CharField())
    journal = serializers.CharField(source="journal_title")
    journal_work = serializers.IntegerField(source="journal_id", allow_null=True)
    issn_print = serializers.CharField()
    issn_electronic = serializers.CharField()
    doi = serializers.CharField()
    volume = serializers.CharField()
    issue = serializers.CharField()
    pages = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    language = serializers.CharField()


class ArticleHit(ArticleSerializer):
    holders = ArticleHolder(many=True)


class ArticleResult(serializers.Serializer):
    query = serializers.CharField()
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    hits = ArticleHit(many=True)
