"""Params that read back exactly as they were logged.

MLflow stores a param as text. A value is written as JSON (`8`, `0.0002`, `true`, `null`, `[0.5, 0.999]`),
except a text that JSON would read as something else: that is written bare (`bce`, `fashion_mnist`), so
MLflow's runs table shows names without quotes. Reading is the inverse: JSON where the text is JSON, the
text itself where it is not. A tuple comes back as a list (JSON has no tuples): compare levels through
`record.design.level_label`, which writes both alike.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["decode", "encode"]


def encode(value: Any) -> str:
    """A param's text. Raises ValueError for a value JSON cannot write exactly (a non-finite float, an object)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value  # reads back as itself
        return json.dumps(value)  # "8", "true", "null" as text: quoted, so they stay text
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a param must be finite, not {value}")
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"a param must be JSON (text, number, true/false, null, or a list or mapping of them), "
                         f"not {value!r} ({e})") from None


def decode(text: str) -> Any:
    """The value `encode` wrote. A text MLflow holds from elsewhere (not JSON) reads as that text."""
    try:
        return json.loads(text)
    except ValueError:
        return text

