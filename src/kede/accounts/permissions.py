"""Who may do what. Anything not listed here is denied.

Each action names the roles that may perform it. A role held at an institution reaches that
institution; a regional-centre administrator reaches every institution of its region; a centre
administrator reaches all. Ownership (a reader acting on their own request) is checked by the
service that performs the action, on top of this table.
"""

from __future__ import annotations

from kede.accounts.models import Role

R = Role

PERMISSIONS: dict[str, frozenset[Role]] = {
    # Reader gateway
    "request.create": frozenset({R.READER}),
    "request.cancel": frozenset({R.READER, R.ILL_STAFF}),
    "request.view": frozenset(
        {R.READER, R.ILL_STAFF, R.INSTITUTION_ADMIN, R.REGION_ADMIN, R.CENTRE_ADMIN}
    ),
    "copy.download": frozenset({R.READER, R.ILL_STAFF}),
    "request.report_problem": frozenset({R.READER, R.ILL_STAFF}),
    "ebook.borrow": frozenset({R.READER}),
    "ppv.buy": frozenset({R.READER}),
    # Lending side: answer requests sent to one's own institution
    "supply.view": frozenset({R.ILL_STAFF, R.INSTITUTION_ADMIN}),
    "supply.accept": frozenset({R.ILL_STAFF}),
    "supply.deliver": frozenset({R.ILL_STAFF}),
    "supply.refuse": frozenset({R.ILL_STAFF}),
    # Borrowing side: requests of one's own readers
    "borrowing.view": frozenset({R.ILL_STAFF, R.INSTITUTION_ADMIN}),
    "borrowing.manage": frozenset({R.ILL_STAFF}),
    "request.answer_conditions": frozenset({R.READER, R.ILL_STAFF}),
    "request.renew": frozenset({R.READER, R.ILL_STAFF}),
    # People
    "reader.view": frozenset({R.ILL_STAFF, R.INSTITUTION_ADMIN, R.REGION_ADMIN, R.CENTRE_ADMIN}),
    "reader.approve": frozenset({R.ILL_STAFF, R.INSTITUTION_ADMIN, R.REGION_ADMIN, R.CENTRE_ADMIN}),
    "staff.grant": frozenset({R.INSTITUTION_ADMIN, R.CENTRE_ADMIN}),
    # The network
    "institution.manage": frozenset({R.CENTRE_ADMIN}),
    "consortium.admin": frozenset({R.CENTRE_ADMIN}),
    "ppv.manage": frozenset({R.CENTRE_ADMIN}),
    # The union catalogue: a library loads its own catalogue; the centre sets mappings and scope
    "catalogue.manage": frozenset({R.ILL_STAFF, R.INSTITUTION_ADMIN}),
    "catalogue.configure": frozenset({R.CENTRE_ADMIN}),
}


def roles_for(action: str) -> frozenset[Role]:
    """Roles that may perform `action`; an unknown action is allowed to nobody."""
    return PERMISSIONS.get(action, frozenset())
