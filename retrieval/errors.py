"""Errors of the ML core that callers outside it catch (importing no heavy library)."""


class EmptyQueryError(ValueError):
    """The mask erases every feature-map cell: nothing is left to describe."""


class NotDecomposable(ValueError):
    """The descriptor's pooling is not linear in the cells (GeM p != 1, several scales)."""
