"""A URI as it may be shown: any password in it, and the values of query keys that look like secrets, masked.

A tracking URI can carry credentials (`http://user:secret@host:5000`, `postgresql://user:pw@db/mlflow`,
`...?token=...`). Everything gansweep prints or writes for people (console lines, the printed `mlflow ui`
command, the report) goes through `shown`; the sweep's own state (sweep.json, private to its user) keeps the
URI as given, since a resume needs it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "masked_text", "shown"]

MASK = "***"
_SECRET_KEYS = ("password", "passwd", "pwd", "secret", "token", "key", "sig", "credential", "auth")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]*)@")


def shown(uri: str) -> str:
    """`uri` with its password and secret-looking query values replaced by MASK; text that is not a URI as is."""
    if not isinstance(uri, str) or "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
        query = parts.query
        pairs = parse_qsl(query, keep_blank_values=True) if query else []
        if any(any(s in k.lower() for s in _SECRET_KEYS) for k, _ in pairs):
            query = urlencode([(k, MASK if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in pairs],
                              safe="*")
        if (netloc, query) == (parts.netloc, parts.query):
            return uri  # nothing to hide: as given (rebuilding would drop sqlite:////'s empty host)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return MASK


def masked_text(text: str) -> str:
    """`text` (an error message, say) with the password of every URI in it masked."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", str(text))
