"""Every reach into Ray beyond its public Tune API (sweeps/_ray.py, sweeps/tunestate.py), pinned on the
installed Ray: each test fails loudly, naming the reach, when Ray changes shape. Fast: no Ray is started."""

import inspect

import ray
from ray import tune
from ray.tune.experiment import Trial

from sweeps._ray import JOB_CONFIG_ENV, sweep_runtime_env, use_callbacks_on_restore


def test_ray_init_still_takes_the_drivers_node_address():
    # sweeps._ray.start_ray passes GANSWEEP_NODE_IP as ray.init(_node_ip_address=...), which ray.init reads
    # from its **kwargs; there is no public way to name the driver's address on a machine with several
    source = inspect.getsource(ray.init)
    assert '"_node_ip_address"' in source or "'_node_ip_address'" in source, \
        "ray.init no longer reads _node_ip_address: update sweeps/_ray.py start_ray"


def test_a_tuner_still_keeps_its_callbacks_where_a_restored_one_is_handed_the_drivers(tmp_path):
    tuner = tune.Tuner(lambda config: None, run_config=tune.RunConfig(name="pin", storage_path=str(tmp_path),
                                                                      callbacks=[]))
    mine = [tune.Callback()]
    use_callbacks_on_restore(tuner, mine)
    assert tuner._local_tuner._run_config.callbacks == mine


def test_a_trial_still_names_the_drivers_staging_copy_of_the_experiment_state(tmp_path):
    # sweeps.tunestate.TuneStateBackup reads trial.storage.experiment_driver_staging_path: the driver's own,
    # complete copy of tuner.pkl, which Tune's copy thread may be rewriting in storage
    from ray.train._internal.storage import StorageContext

    tune.register_trainable("gansweep_pin", lambda config: None)
    trial = Trial("gansweep_pin", config={}, storage=StorageContext(storage_path=str(tmp_path),
                                                                    experiment_dir_name="pin"))
    assert trial.storage.__class__ is StorageContext
    # a property that needs a running Ray's session folder: its presence is pinned, not its value
    assert isinstance(inspect.getattr_static(StorageContext, "experiment_driver_staging_path"), property)


def test_a_jobs_entrypoint_still_gets_its_config_in_the_environment_variable_submitted_job_reads():
    # sweeps._ray.submitted_job reads the job supervisor's JSON: {"runtime_env": {...}, "metadata":
    # {"job_submission_id": ...}}; the real job is tests/cluster (a sweep submitted with `ray job submit`)
    from ray._private.runtime_env.constants import RAY_JOB_CONFIG_JSON_ENV_VAR
    from ray.dashboard.modules.job import job_supervisor

    assert RAY_JOB_CONFIG_JSON_ENV_VAR == JOB_CONFIG_ENV, "the job config's variable moved: update sweeps/_ray.py"
    source = inspect.getsource(job_supervisor.JobSupervisor._get_driver_env_vars)
    assert '"runtime_env"' in source and '"metadata"' in source, \
        "the job config's shape changed: update sweeps/_ray.py submitted_job"
    from ray.dashboard.modules.job.common import JOB_ID_METADATA_KEY

    assert JOB_ID_METADATA_KEY == "job_submission_id", "a job's metadata names its id otherwise: update submitted_job"


def test_the_sweeps_runtime_env_extends_a_submitted_jobs_without_naming_what_ray_would_call_a_conflict():
    from ray.runtime_env.runtime_env import _merge_runtime_env  # what ray.init merges a job's and a driver's with

    ours = {"GANSWEEP_CACHE_DIR": "/c", "RAY_CHDIR_TO_TRIAL_DIR": "0"}
    job = {"working_dir": "gcs://_ray_pkg_a.zip", "env_vars": {"GANSWEEP_CACHE_DIR": "/c", "X": "1"}}
    env, replaces = sweep_runtime_env(ours, ["/lab/plugin_lab"], job)
    assert env == {"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}, "py_modules": ["/lab/plugin_lab"]} and not replaces
    merged = _merge_runtime_env(job, env)
    assert merged["working_dir"] == job["working_dir"] and merged["env_vars"] == {**job["env_vars"], **ours}
    # both ship modules: the sweep's list carries the job's, and replaces it
    job["py_modules"] = ["gcs://_ray_pkg_b.zip"]
    env, replaces = sweep_runtime_env(ours, ["/lab/plugin_lab"], job)
    assert env["py_modules"] == ["gcs://_ray_pkg_b.zip", "/lab/plugin_lab"] and replaces
    assert _merge_runtime_env(job, env) is None  # Ray's refusal that replacing (RAY_OVERRIDE_JOB_RUNTIME_ENV) avoids
    assert _merge_runtime_env(job, env, override=True)["py_modules"] == env["py_modules"]
    assert sweep_runtime_env(ours, [], {}) == ({"env_vars": ours}, False)  # outside a job: as before


def test_the_dashboard_dependency_probe_local_cluster_sh_asks_is_still_there():
    # cluster/local_cluster.sh starts a head with the dashboard (the job API) only when this says it can run
    from ray._private import utils

    assert callable(getattr(utils, "get_dashboard_dependency_error", None)), \
        "Ray no longer has _private.utils.get_dashboard_dependency_error: update cluster/local_cluster.sh"
