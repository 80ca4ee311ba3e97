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


MAX_MESSAGE_CHARS = 2_000  # an error's message: a long value it quotes is cut in the middle to fit


class GansweepError(Exception):
    """A problem the user can fix; its message is the whole explanation. A message that quotes a long value (a spec's
    megabyte of text where a name belongs) keeps both its ends, where what was wrong and what is allowed are said."""

    def __init__(self, message: object = "", *args):
        text = str(message)
        if len(text) > MAX_MESSAGE_CHARS:
            half = MAX_MESSAGE_CHARS // 2 - 20
            text = f"{text[:half]} ...[{len(text) - 2 * half} characters left out]... {text[-half:]}"
        super().__init__(text, *args)


class SpecError(GansweepError, ValueError):
    """A sweep spec is invalid; the message names the file, key path, line and what is allowed."""


class SetupError(GansweepError):
    """The sweep's surroundings are unusable: the output folder, storage, tracking server, a lock or saved state."""
