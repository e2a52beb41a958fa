from django.apps import AppConfig


class MatcherConfig(AppConfig):
    # Keep torch out of this module: the web process imports apps at start-up.
    name = "matcher"
    verbose_name = "Matcher (embeddings and index)"
