"""Push what a sweep's MLflow journal still holds to MLflow.

A sweep whose tracking server did not answer by its end keeps the results MLflow lacks in its journal
(`mlflow_journal.jsonl` in the sweep's folder) and prints this command. It applies them in order, as the
sweep's driver would have, and a result already in MLflow is not logged twice:

    python -m sweeps.push runs/sweeps/hidden_dims-smoke-20261128-101500-ab12cd

Exit status: 0 when MLflow holds everything, 75 when some still wait (MLflow still unreachable), 2 on
bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from record.folder import (
    STATE_FILE, FolderBusy, StateDamaged, UntrustedFolder, check_trusted, lock_folder, read_state,
)
from sweeps.tracking.client import quick_http_failures
from sweeps.tracking.journal import JOURNAL_FILE, REJECTED_FILE, Journal, JournalBusy, JournalDamaged, push_command

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweeps.push", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", help="the sweep's folder (OUT/sweeps/<name>-<id>), as the sweep printed it")
    parser.add_argument("--tracking-uri", help="where MLflow answers now, if not where the sweep logged to "
                                               "(the same store: its experiment and run ids must be there)")
    parser.add_argument("--wait", type=float, default=300.0, metavar="SECONDS",
                        help="give up after this long while MLflow does not answer (default: 300)")
    parser.add_argument("--trust-folder", action="store_true",
                        help="push a sweep folder another user owns or others may write to (its journal decides "
                             "what is uploaded)")
    args = parser.parse_args(argv)
    folder = Path(args.sweep_dir)
    if not (folder / STATE_FILE).is_file():
        print(f"error: {folder}: not a sweep folder (no {STATE_FILE}); give the folder the sweep printed as "
              "'sweep output'.", file=sys.stderr)
        return 2
    if args.wait < 0:
        print(f"error: --wait {args.wait:g}: give 0 or more seconds", file=sys.stderr)
        return 2
    if not args.trust_folder:
        try:
            check_trusted(folder)
        except UntrustedFolder as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        lock = lock_folder(folder)  # before the journal is read: a live driver may be writing its last line
    except FolderBusy as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return _push(folder, args)
    finally:
        lock.close()


def _push(folder: Path, args) -> int:
    try:
        state = read_state(folder)
    except StateDamaged as e:
        print(f"error: {e}; nothing was pushed.", file=sys.stderr)
        return 2
    uri = args.tracking_uri or state.tracking_uri
    quick_http_failures()
    try:
        journal = Journal(folder, uri, state.experiment_id, state.parent_run_id, state.sweep_id)
    except JournalDamaged as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    waiting = len(journal.pending())
    if not waiting:
        print(f"nothing to push: MLflow at {uri} holds every entry of {folder / JOURNAL_FILE}")
        return 0
    print(f"pushing {waiting} journal entries to MLflow at {uri} ...", flush=True)
    start = time.perf_counter()
    try:
        journal.start()
    except JournalBusy as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        done = journal.drain(args.wait)
    except KeyboardInterrupt:
        done = False
    journal.close()
    left = len(journal.pending())
    print(f"pushed {journal.applied} entries in {time.perf_counter() - start:.1f} s"
          + (f", {journal.rejected} refused by MLflow (see {folder / REJECTED_FILE})"
             if journal.rejected else "") + (f"; {left} still wait" if left else ""))
    if not done:
        print(f"MLflow at {uri} is not answering ({journal.last_error}); try again later: "
              f"{push_command(folder)}", file=sys.stderr)
        return 75
    return 0


if __name__ == "__main__":
    sys.exit(main())
