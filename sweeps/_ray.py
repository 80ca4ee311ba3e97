"""Every reach into Ray beyond its public Tune API, named here and each pinned by a fast shape test
(tests/sweeps/test_ray.py) that fails loudly when Ray changes:

- `ray.init(_node_ip_address=...)`: the driver's address on a machine with several (GANSWEEP_NODE_IP);
- `Tuner._local_tuner._run_config.callbacks`: a restored Tuner runs with the callbacks it pickled, not
  the driver's (`use_callbacks_on_restore`);
- in sweeps/tunestate.py: `Trial.storage.experiment_driver_staging_path` (the driver's complete copy of
  Tune's state) and the searchers' `CKPT_FILE_TMPL` names of Tune's state files.

Also the environment Ray starts the trials with (`start_ray`).
"""

from __future__ import annotations

import os

__all__ = ["start_ray", "use_callbacks_on_restore"]


def start_ray(address: str | None, verbose: int, py_modules: list[str] | None = None) -> None:
    """Start (or join) Ray for a sweep; `py_modules` is the plugin code its workers import (sweeps.plugins)."""
    import ray

    # Tune's own period for snapshots of its experiment state ("auto": at least 10 s apart, at most 5% of
    # the time; and whenever a trial has checkpointed as often as it keeps checkpoints). A snapshot
    # rewrites the whole trial table, so one at every step cost the driver CPU that grew with the sweep.
    # What happens between two snapshots is carried by the journal: a restored trial replays evaluations
    # its run already has (skipped), a run whose trial the last snapshot did not hold is kept as `lost`
    # (sweeps.tracking.tracker), and Optuna is not told twice (sweeps.search).
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "auto")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    env_vars = {k: os.environ[k] for k in ("GANSWEEP_CACHE_DIR", "GANSWEEP_DATA_DIR", "GANSWEEP_INCEPTION_WEIGHTS",
                                           "TORCH_HOME") if k in os.environ}
    env_vars["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    if ray.is_initialized():
        if not py_modules:
            return
        ray.shutdown()  # a job's code is fixed when it starts: this sweep's plugins need a job of their own
    init_kwargs = {}
    if os.environ.get("GANSWEEP_NODE_IP"):  # the driver's address when the machine has several
        init_kwargs["_node_ip_address"] = os.environ["GANSWEEP_NODE_IP"]
    # without an address, a Ray of our own: `ray.init()` alone would join any cluster `ray start` left
    # running on this machine, and its queue (`--address auto` joins it on purpose)
    ray.init(address=address or os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False,
             runtime_env={"env_vars": env_vars, **({"py_modules": py_modules} if py_modules else {})},
             log_to_driver=verbose > 0, logging_level="WARNING", **init_kwargs)


def use_callbacks_on_restore(tuner, callbacks: list) -> None:
    """Make a restored Tuner call this driver's callbacks.

    Tune pickles the RunConfig, callbacks included, into tuner.pkl when a sweep starts, and
    `Tuner.restore` (which takes no callbacks) runs with the unpickled copies: the MLflow tracker, the
    progress and the state backup of the first session, not this driver's. This is the one private
    reach into Ray here (Ray 2.60: `Tuner._local_tuner._run_config`); it fails loudly if Ray changes shape.
    """
    run_config = getattr(getattr(tuner, "_local_tuner", None), "_run_config", None)
    if run_config is None or not hasattr(run_config, "callbacks"):
        raise RuntimeError("this Ray version's Tuner has no _local_tuner._run_config.callbacks; gansweep cannot "
                           "hand a resumed sweep its callbacks (see sweeps/_ray.py, use_callbacks_on_restore).")
    run_config.callbacks = list(callbacks)
