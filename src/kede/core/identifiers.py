"""Standard identifiers, checked and written one way. Pure: no Django."""

from __future__ import annotations

import re
from functools import lru_cache

from stdnum import isbn as stdisbn
from stdnum import issn as stdissn
from stdnum.exceptions import ValidationError as StdnumError

# The number at the start of a field, spaces and hyphens allowed inside: MARC 020 $a often
# carries a qualifier after it ("0306406152 (pbk.)"), readers type "0028 0836".
_LEADING_ISBN = re.compile(r"^[\s(]*([0-9Xx](?:[0-9Xx\s-]{8,15})[0-9Xx])(?![0-9Xx])")
_LEADING_ISSN = re.compile(r"^\s*([0-9]{4}[\s-]?[0-9]{3}[0-9Xx])(?![0-9Xx])")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:")


# The same numbers come again and again (a record's own, its candidates', the index's), and
# checking one is slow next to looking it up: the last 65,536 are remembered.
@lru_cache(maxsize=1 << 16)
def normalise_isbn(raw: str) -> str | None:
    """ISBN-13 without hyphens, or None when `raw` is not a valid ISBN-10/13."""
    match = _LEADING_ISBN.match(raw)
    if match is None:
        return None
    try:
        return stdisbn.to_isbn13(stdisbn.validate(match.group(1)))
    except StdnumError:
        return None


@lru_cache(maxsize=1 << 16)
def normalise_issn(raw: str) -> str | None:
    """ISSN as NNNN-NNNC, or None when `raw` is not a valid ISSN."""
    match = _LEADING_ISSN.match(raw)
    if match is None:
        return None
    try:
        return stdissn.format(stdissn.validate(match.group(1)))
    except StdnumError:
        return None


def normalise_doi(raw: str) -> str | None:
    """A DOI as '10.xxxx/suffix' (resolver prefixes removed), or None when it is not one."""
    text = raw.strip()
    for prefix in _DOI_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    return text if _DOI.match(text) else None
