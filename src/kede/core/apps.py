from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kede.core"
    label = "core"
    verbose_name = "Kede"

    def ready(self) -> None:
        from kede.core import lookups

        lookups.register()
