"""Opening a store the report only reads: an MLflow tracking store or an Optuna storage that already exists.

MLflow and Optuna both create their tables in whatever SQLite file they are pointed at, and a new database where
a typo points. A report reads; so a SQLite store must be an existing database file that already holds the
tables of the kind it is named as, checked read-only (`sqlite3`, `mode=ro`) before MLflow or Optuna opens it.
Other stores (a tracking server, PostgreSQL) are theirs to answer for.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote, unquote

from analysis.errors import SweepNotFound
from record.uris import masked_text, shown

__all__ = ["MLFLOW_TABLES", "OPTUNA_TABLES", "StoreUnreadable", "check_sqlite_store", "mlflow_client"]

MLFLOW_TABLES = ("experiments", "runs", "alembic_version")
OPTUNA_TABLES = ("studies", "trials", "version_info")


class StoreUnreadable(SweepNotFound):
    """A store named to the report cannot be read as the kind of store it is named as; the message says why (the
    runs it names cannot be found, as every command that reads runs already says)."""


def sqlite_path(uri: str) -> Path | None:
    """The file of a `sqlite:///...` URI (relative, or absolute with four slashes); None for an in-memory one."""
    rest = uri[len("sqlite:"):].split("?", 1)[0]
    if not rest.startswith("///"):
        return None
    return Path(unquote(rest[3:])) if rest[3:] else None  # percent-decoded, as SQLAlchemy reads the URL


def check_sqlite_store(uri: str, tables: tuple[str, ...], what: str) -> None:
    """Refuse a SQLite `uri` that is not an existing database holding `tables` (`what`: the store's kind and how it
    was named, for the message). Any other URI passes unchecked."""
    if not uri.startswith("sqlite:"):
        return
    path = sqlite_path(uri)
    if path is None or not path.is_file():
        raise StoreUnreadable(f"{what} {shown(uri)}: no such database file ({path or 'an in-memory database'}); "
                              "the report reads an existing store and never makes one.")
    try:
        con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        try:
            names = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.close()
    except sqlite3.Error as e:
        raise StoreUnreadable(f"{what} {shown(uri)}: {path} is not a readable SQLite database ({e}).") from None
    missing = [t for t in tables if t not in names]
    if missing:
        raise StoreUnreadable(f"{what} {shown(uri)}: {path} is a SQLite database, but not this kind of store (it has "
                              f"no table {missing[0]!r}); name the store the runs were logged to.")


def mlflow_client(uri: str, what: str):
    """An MlflowClient on `uri` that has answered once (its experiments listed): a store MLflow cannot open (a schema
    of another release, a broken database) is a StoreUnreadable saying so, not a traceback."""
    from alembic.script.revision import RevisionError
    from alembic.util.exc import CommandError
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from sqlalchemy.exc import SQLAlchemyError

    check_sqlite_store(uri, MLFLOW_TABLES, what)
    try:
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)
    except (MlflowException, SQLAlchemyError, RevisionError, CommandError, sqlite3.Error, OSError) as e:
        raise StoreUnreadable(f"{what} {shown(uri)} could not be read by MLflow: "
                              f"{masked_text(str(e).splitlines()[0] if str(e) else type(e).__name__)}") from None
    return client
