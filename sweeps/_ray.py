"""Every reach into Ray beyond its public Tune API, named here and each pinned by a fast shape test
(tests/sweeps/test_ray.py) that fails loudly when Ray changes:

- `ray.init(_node_ip_address=...)`: the driver's address on a machine with several (GANSWEEP_NODE_IP);
- `Tuner._local_tuner._run_config.callbacks`: a restored Tuner runs with the callbacks it pickled, not
  the driver's (`use_callbacks_on_restore`);
- `RAY_JOB_CONFIG_JSON_ENV_VAR`: the job config (runtime env, submission id) `ray job submit` hands its
  entrypoint (`submitted_job`), and `RAY_OVERRIDE_JOB_RUNTIME_ENV`, with which the sweep's py_modules
  carry the job's (`sweep_runtime_env`);
- `ray._private.utils.get_dashboard_dependency_error`: whether Ray's dashboard (and its job API) can run,
  which cluster/local_cluster.sh asks before it starts a head;
- in sweeps/tunestate.py: `Trial.storage.experiment_driver_staging_path` (the driver's complete copy of
  Tune's state) and the searchers' `CKPT_FILE_TMPL` names of Tune's state files.

Also the environment Ray starts the trials with (`start_ray`).
"""

from __future__ import annotations

import json
import os

__all__ = ["start_ray", "submitted_job", "sweep_runtime_env", "use_callbacks_on_restore"]

# Ray 2.60: ray._private.runtime_env.constants.RAY_JOB_CONFIG_JSON_ENV_VAR, set by the job supervisor
# (dashboard/modules/job/job_supervisor.py) to {"runtime_env": ..., "metadata": {"job_submission_id": ...}}
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def start_ray(address: str | None, verbose: int, py_modules: list[str] | None = None) -> None:
    """Start (or join) Ray for a sweep; `py_modules` is the plugin code its workers import (sweeps.plugins)."""
    import ray

    # Tune's own period for snapshots of its experiment state ("auto": at least 10 s apart, at most 5% of
    # the time; and whenever a trial has checkpointed as often as it keeps checkpoints). A snapshot
    # rewrites the whole trial table, so one at every step cost the driver CPU that grew with the sweep.
    # What happens between two snapshots is carried by the journal: a restored trial replays evaluations
    # its run already has (skipped), a run whose trial the last snapshot did not hold is kept as `lost`
    # (sweeps.tracking.tracker), and Optuna is not told twice (sweeps.searchers).
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "auto")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    env_vars = {k: os.environ[k] for k in ("GANSWEEP_CACHE_DIR", "GANSWEEP_DATA_DIR", "GANSWEEP_INCEPTION_WEIGHTS",
                                           "TORCH_HOME") if k in os.environ}
    env_vars["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    if ray.is_initialized():
        if not py_modules:
            return
        ray.shutdown()  # a job's code is fixed when it starts: this sweep's plugins need a job of their own
    job = submitted_job()
    runtime_env, extends = sweep_runtime_env(env_vars, py_modules or [], job["runtime_env"] if job else {})
    if extends:  # the sweep's py_modules carry the job's too (see sweep_runtime_env)
        os.environ["RAY_OVERRIDE_JOB_RUNTIME_ENV"] = "1"
    init_kwargs = {}
    if os.environ.get("GANSWEEP_NODE_IP"):  # the driver's address when the machine has several
        init_kwargs["_node_ip_address"] = os.environ["GANSWEEP_NODE_IP"]
    # without an address, a Ray of our own: `ray.init()` alone would join any cluster `ray start` left
    # running on this machine, and its queue (`--address auto` joins it on purpose)
    ray.init(address=address or os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False,
             runtime_env=runtime_env,
             log_to_driver=verbose > 0, logging_level="WARNING", **init_kwargs)


def sweep_runtime_env(env_vars: dict, py_modules: list[str], job_env: dict) -> tuple[dict, bool]:
    """The runtime env the sweep starts Ray with, and whether it must replace the job's (True only when
    both ship py_modules). Ray refuses a driver's runtime env that names a field or an environment variable the
    job's (`ray job submit --runtime-env-json`) also names: a variable the job sets is left to the job (the
    driver read it from the job's environment: the same value), and py_modules become the job's and the
    sweep's plugins together, which the driver then sets in place of the job's."""
    job_vars = job_env.get("env_vars") if isinstance(job_env.get("env_vars"), dict) else {}
    job_modules = job_env.get("py_modules") if isinstance(job_env.get("py_modules"), list) else []
    own_vars = {k: v for k, v in env_vars.items() if k not in job_vars}
    runtime_env = {
        **({"env_vars": own_vars} if own_vars else {}),
        **({"py_modules": [*job_modules, *(p for p in py_modules if p not in job_modules)]} if py_modules else {}),
    }
    return runtime_env, bool(py_modules and job_modules)


def submitted_job() -> dict | None:
    """The Ray job this process is the entrypoint of (`ray job submit ... -- python -m sweeps.run ...`):
    `{"id": its submission id, "working_dir": whether it runs in Ray's temporary copy of an uploaded
    --working-dir, "runtime_env": the job's runtime env}`; None outside a submitted job. Read before Ray is
    started, from the environment the job supervisor gives its entrypoint."""
    raw = os.environ.get(JOB_CONFIG_ENV)
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    runtime_env = config.get("runtime_env") if isinstance(config.get("runtime_env"), dict) else {}
    metadata = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
    return {"id": str(metadata.get("job_submission_id") or "?"), "working_dir": bool(runtime_env.get("working_dir")),
            "runtime_env": runtime_env}


def use_callbacks_on_restore(tuner, callbacks: list) -> None:
    """Make a restored Tuner call this driver's callbacks.

    Tune pickles the RunConfig, callbacks included, into tuner.pkl when a sweep starts, and
    `Tuner.restore` (which takes no callbacks) runs with the unpickled copies: the MLflow tracker, the
    progress and the state backup of the first session, not this driver's. It reaches into Ray's private
    `Tuner._local_tuner._run_config` (Ray 2.60), one of the reaches this module's docstring names; it fails loudly
    if Ray changes shape.
    """
    run_config = getattr(getattr(tuner, "_local_tuner", None), "_run_config", None)
    if run_config is None or not hasattr(run_config, "callbacks"):
        raise RuntimeError("this Ray version's Tuner has no _local_tuner._run_config.callbacks; gansweep cannot "
                           "hand a resumed sweep its callbacks (see sweeps/_ray.py, use_callbacks_on_restore).")
    run_config.callbacks = list(callbacks)
