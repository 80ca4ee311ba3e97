"""Every reach into Ray beyond its public Tune API (sweeps/_ray.py, sweeps/tunestate.py), pinned on the
installed Ray: each test fails loudly, naming the reach, when Ray changes shape. Fast: no Ray is started."""

import inspect

import ray
from ray import tune
from ray.tune.experiment import Trial

from sweeps._ray import use_callbacks_on_restore


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
