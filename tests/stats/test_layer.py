"""The verdict engine stands on its own: importing every module of stats/ loads neither torch, Ray, Optuna nor
MLflow, so anyone's table of runs can be judged without them."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO


def test_stats_imports_no_torch_ray_optuna_or_mlflow():
    code = ("import sys, pkgutil, importlib, stats\n"
            "for m in pkgutil.iter_modules(stats.__path__): importlib.import_module('stats.' + m.name)\n"
            "heavy = sorted({n.split('.')[0] for n in sys.modules} & {'torch', 'ray', 'optuna', 'mlflow', 'gan'})\n"
            "print(','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"stats/ pulled in {proc.stdout.strip()}"


def test_the_fit_reads_a_metrics_scale_without_gan():
    """FID is compared on the log scale because record.metrics declares it positive, not because gan was imported."""
    code = ("import sys, pandas as pd\n"
            "from stats.fit import fit_design\n"
            "rows = [{'w': w, 'fid': f, 'status': 'completed'} for w, fs in ((8, (150, 160)), (32, (100, 104)))"
            " for f in fs]\n"
            "fit = fit_design(pd.DataFrame(rows), 'fid', 'min', ['w'], {'w': 8})\n"
            "print(fit.scale, 'gan' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["log", "False"]
