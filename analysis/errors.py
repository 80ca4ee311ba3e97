"""The error of every command that reads runs back (the report, claims, equivalence, a pilot plan, the studies):
the runs named cannot be found, or their store cannot be read. `analysis.load` exports it with the loaders."""

from __future__ import annotations

from record.errors import GansweepError

__all__ = ["SweepNotFound"]


class SweepNotFound(GansweepError, LookupError):
    """No such experiment or sweep, or it has no finished trials; the message says what was looked at."""
