from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    """The routing centre's records. `policy`, `rota` and `stats` stay pure (no Django); the
    models, services, selectors and task here feed them facts and store what they decide."""

    name = "kede.routing"
    label = "routing"
    verbose_name = _("Routing centre")
