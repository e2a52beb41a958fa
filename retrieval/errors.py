"""Errors of the ML core that callers outside it catch (importing no heavy library)."""


class EmptyQueryError(ValueError):
    """The mask erases every feature-map cell: nothing is left to describe."""
