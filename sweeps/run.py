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

import sys

from sweeps.cli import main

if __name__ == "__main__":
    sys.exit(main())
