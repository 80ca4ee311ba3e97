"""Run a sweep: `python -m sweeps.run SPEC.yaml [--scale smoke] [--dry-run] [--resume] [--out DIR] ...`.

Validates the spec, prepares the shared caches (domain classifier, real-data statistics) once,
opens the MLflow parent run, then runs Ray Tune: Optuna (TPE) or Tune's variant generator for the
search, ASHA or the race on the spec's metric for early stopping, one child MLflow run per trial.
`--resume` continues an interrupted sweep in the same output folder with the same MLflow runs.

The pieces, each in the file named by its role:
    sweeps/cli.py       the command line                sweeps/driver.py    run_sweep: one sweep, start to end
    sweeps/specfile/        the YAML spec, validated         sweeps/plan.py      --dry-run's plan, design.json
    sweeps/space.py     the Tune param space             sweeps/schedulers.py  searchers and schedulers
    sweeps/tuner.py     the Tuner, built or restored     sweeps/progress.py  the console while it runs
    sweeps/contract.py  what a trial is handed, reports  sweeps/ledger.py    each trial's last result and end, once
    sweeps/searchers.py    the searchers                    sweeps/resolve.py   each suggestion's config, resolved
    sweeps/race_scheduler.py      the race on configurations
    sweeps/summary.py   the ranking at the end           sweeps/location.py  where a sweep lives, checked
    sweeps/trainable.py one trial, in its own process    sweeps/tracking/    the MLflow client, journal, tracker
    sweeps/_ray.py      every private reach into Ray     sweeps/push.py      push a journal to MLflow
"""

import os
import signal
import sys

from sweeps.cli import main


def exit_on_late_interrupts(code: int) -> None:
    """The sweep has ended and said so; what is left is Ray's shutdown at exit. An interrupt then (a second
    Ctrl-C, a SIGTERM right after one) ends the process with the sweep's own exit code at once, instead of
    raising KeyboardInterrupt inside Ray's exit handler, which leaves Ray half shut down to crash the
    interpreter as it finalizes. What the sweep printed is flushed first (os._exit does not), also by an
    interrupt that comes while it is flushed."""

    def leave(*_):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, leave)
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    code = main()
    exit_on_late_interrupts(code)
    sys.exit(code)
