"""What a journal entry holds, kind by kind, as the tracker (sweeps.tracking.tracker) writes it and the journal
(sweeps.tracking.journal) reads it back: every entry of a journal is checked against this when the journal is read,
so a changed line is refused at once rather than retried against MLflow for ever."""

from __future__ import annotations

import math

__all__ = ["OPS", "entry_problem"]

OPS = ("open", "result", "tags", "artifact", "status", "settle")  # the kinds of entry a driver writes
_INT64 = 2**63
_FIELDS: dict[str, dict[str, type]] = {  # each kind's fields and their types (`trial` may be None where unlisted)
    "open": {"trial": str, "name": str, "tags": dict, "params": dict},
    "result": {"trial": str, "step": int, "time": int, "metrics": dict},
    "tags": {"tags": dict},
    "artifact": {"file": str},
    "status": {"status": str},
    "settle": {"tag": str, "statuses": list, "exclude": list, "set_tags": dict, "status": str, "delete_empty": bool},
}


def entry_problem(entry: dict) -> str | None:
    """What is wrong with a journal entry of a known kind (`entry["op"]` in OPS), or None."""
    for key, kind in _FIELDS[entry["op"]].items():
        value = entry.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"its `{key}` is {type(value).__name__}, not the {kind.__name__} a driver writes"
        if kind is int and not -_INT64 <= value < _INT64:
            return f"its `{key}` {value} is outside a 64-bit integer"
    if entry["op"] == "settle" and "only" in entry and not isinstance(entry["only"], list):
        return f"its `only` is {type(entry['only']).__name__}, not the list a driver writes"
    if entry["op"] == "result":
        bad = [k for k, v in entry["metrics"].items()
               if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)]
        if bad:
            return f"its metric {bad[0]!r} is not a finite number"
    return None
