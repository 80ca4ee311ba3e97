"""The project's errors: one base the command lines catch once, printed as one line without a traceback.

- `GansweepError`: anything the user can fix, with a message that says what was wrong, where and what is allowed.
- `SpecError`: the sweep spec (file, key path, line).
- `SetupError`: what the sweep runs in: its output folder, storage, tracking server, a lock, a saved state.

Each concrete error also derives from the built-in exception it is a kind of (`ValueError`, `PermissionError`,
`FileNotFoundError`, ...), so callers that catch those keep working. A bug is none of these: it stays a
traceback.
"""

from __future__ import annotations

__all__ = ["GansweepError", "SetupError", "SpecError"]


class GansweepError(Exception):
    """A problem the user can fix; its message is the whole explanation."""


class SpecError(GansweepError, ValueError):
    """A sweep spec is invalid; the message names the file, key path, line and what is allowed."""


class SetupError(GansweepError):
    """The sweep's surroundings are unusable: the output folder, storage, tracking server, a lock or saved state."""
