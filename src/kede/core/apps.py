from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kede.core"
    label = "core"
    verbose_name = "Kede"
