"""The pure core's reasons, marked for translation.

`kede.routing.policy` writes its reasons as English templates with named parameters
(`"filled {rate:.0%} of {service} requests …"`); pages and commands translate the template,
then format it (`services.translate_reason`). This list puts every template into the message
catalogue; a test checks that it stays complete. Translators keep the `{…}` fields as they are.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

REASONS = (
    # why a library may not be asked (policy.eligible)
    gettext_noop("is the requesting library"),
    gettext_noop("is already a candidate"),
    gettext_noop("does not offer {service}"),
    gettext_noop("does not supply {format}"),
    gettext_noop("does not supply libraries of group {group}"),
    gettext_noop("holds {holdings} by its holdings statement, not {asked}"),
    gettext_noop("is closed on {date}"),
    # what a holder's holdings statement says of the volume asked for (policy.rank)
    gettext_noop("its holdings statement ({holdings}) includes {asked}"),
    gettext_noop(
        "its holdings statement ({holdings}) cannot say whether it has {asked}: asked "
        "after the holders whose statement includes it"
    ),
    gettext_noop(
        "no holdings statement: whether it has {asked} is not known, so it is asked after "
        "the holders whose statement includes it"
    ),
    # what each criterion saw (policy.CRITERIA)
    gettext_noop("part of the requester's own institution ({institution})"),
    gettext_noop("another institution"),
    gettext_noop("in the requester's region ({region})"),
    gettext_noop("in region {region}, not the requester's ({home})"),
    gettext_noop("in the requester's region group ({group})"),
    gettext_noop("in region group {group}, not the requester's ({home})"),
    gettext_noop("charges {price:.2f} for a {service} (half marks at {scale:.2f})"),
    gettext_noop("no {service} history yet: the network's prior, {rate:.0%}"),
    gettext_noop("filled {rate:.0%} of {service} requests ({filled:.0f} of {answered:.0f})"),
    gettext_noop("no {service} supplied yet: the network's prior, {days:.1f} days"),
    gettext_noop("supplies a {service} in {days:.1f} days on average ({supplied:.0f} timed)"),
    gettext_noop("no {service} history yet: by the network's prior, {days:.1f} days per fill"),
    gettext_noop(
        "no {service} history yet: by the network's prior, {days:.1f} days per fill, then "
        "{ship:.1f} days' shipping"
    ),
    gettext_noop(
        "{days:.1f} days per {service} filled: fills {fill:.0%}, answers in {turnaround:.1f} "
        "days, silent past its {response} days {silent:.0%} of the time"
    ),
    gettext_noop(
        "{days:.1f} days per {service} filled: fills {fill:.0%}, answers in {turnaround:.1f} "
        "days, silent past its {response} days {silent:.0%} of the time, then {ship:.1f} days' "
        "shipping"
    ),
    gettext_noop("{open} open requests, no capacity stated: counted as half loaded"),
    gettext_noop("{open} open requests for a capacity of {capacity}"),
    gettext_noop("lent {lent}, borrowed {borrowed}"),
    gettext_noop("no look-ups yet: the network's prior, {accuracy:.0%} accurate"),
    gettext_noop(
        "'not held / not on shelf' in {not_held:.0f} of {checked:.0f} look-ups "
        "({accuracy:.0%} accurate)"
    ),
)

CRITERIA = {
    "same_institution": _("Same institution"),
    "same_region": _("Same region"),
    "same_region_group": _("Same region group"),
    "price": _("Price"),
    "fill_rate": _("Fill rate"),
    "turnaround": _("Turnaround"),
    "days_per_fill": _("Days per fill"),
    "load": _("Current load"),
    "lend_borrow_balance": _("Lend/borrow balance"),
    "holdings_accuracy": _("Holdings accuracy"),
    "coverage": _("Holdings statement"),
}

KINDS = {
    "member": _("member"),
    "partner": _("partner"),
    "proxy": _("proxy search (代查代检)"),
}
