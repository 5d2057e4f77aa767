"""Ingest for the union catalogue: members' files in, bibliographic data and holdings out.
Pure: no Django; the catalogue app stores what this package gives it.

- readers: MARC21 (ISO 2709, UTF-8 or MARC-8), MARCXML, MARC-in-JSON and the CSV template,
  told apart by content, gzip or not; a record or a precise reason for every position.
- lean: the records the readers give: cheap to build, pymarc's API where it is read,
  `to_pymarc()`/`from_pymarc()` at the edges (pymarc stays the reference the tests compare to).
- template: the CSV template for members without a MARC export.
- bib: full bibliographic extraction (BibData) with match keys and original-script fields.
- mapping: where each source keeps local ids and holdings (FieldMapping, presets, preview).
- scope: which classes a consortium keeps (ScopeRule, decide).
- report: counts and reasons for a load (IngestReport).
- pipeline: all of it, one outcome per record (ingest).
"""

from kede.catalog.ingest.bib import BibData, ClassNumber, extract_bib
from kede.catalog.ingest.errors import ConfigError, IngestError, MappingError, ScopeError
from kede.catalog.ingest.mapping import (
    CSV_MAPPING,
    DEFAULT_MAPPING,
    PRESETS,
    FieldMapping,
    FieldRef,
    HoldingData,
    extract_holdings,
    preview,
    suggest_preset,
)
from kede.catalog.ingest.pipeline import Outcome, ingest, ingest_all, ingest_results
from kede.catalog.ingest.readers import ReadResult, RecordStream, detect_format, read_records
from kede.catalog.ingest.report import IngestReport, Rejection
from kede.catalog.ingest.scope import (
    HUMANITIES_SOCIAL_SCIENCES,
    KEEP_EVERYTHING,
    Decision,
    ScopeRule,
)
from kede.catalog.ingest.template import CSV_COLUMNS, CSV_TEMPLATE_HEADER

__all__ = [
    "CSV_COLUMNS",
    "CSV_MAPPING",
    "CSV_TEMPLATE_HEADER",
    "DEFAULT_MAPPING",
    "HUMANITIES_SOCIAL_SCIENCES",
    "KEEP_EVERYTHING",
    "PRESETS",
    "BibData",
    "ClassNumber",
    "ConfigError",
    "Decision",
    "FieldMapping",
    "FieldRef",
    "HoldingData",
    "IngestError",
    "IngestReport",
    "MappingError",
    "Outcome",
    "ReadResult",
    "RecordStream",
    "Rejection",
    "ScopeError",
    "ScopeRule",
    "detect_format",
    "extract_bib",
    "extract_holdings",
    "ingest",
    "ingest_all",
    "ingest_results",
    "preview",
    "read_records",
    "suggest_preset",
]
