import pytest

from gan import ARCHITECTURES, Config, ConfigError, flatten


def make(**sections):
    base = {"train": {"iterations": 10}}
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    return Config.from_dict(base)


def test_defaults_resolve_per_loss():
    bce = make().resolve().optim
    assert (bce.name, bce.g_lr, bce.g_betas) == ("adam", 2e-4, (0.5, 0.999))
    gp = make(loss={"name": "wgan-gp"}).resolve().optim
    assert (gp.name, gp.g_lr, gp.d_betas) == ("adam", 1e-4, (0.0, 0.9))
    wgan = make(loss={"name": "wgan"}).resolve().optim
    assert (wgan.name, wgan.d_lr) == ("rmsprop", 5e-5)
    explicit = make(optim={"g_lr": 1e-3, "d_betas": [0.1, 0.2]}).resolve().optim
    assert (explicit.g_lr, explicit.d_lr, explicit.d_betas, explicit.g_betas) == (1e-3, 1e-3, (0.1, 0.2), (0.5, 0.999))


def test_round_trip_through_dict():
    cfg = make(model={"latent_dim": 16, "conditional": True}, data={"dataset_fraction": 0.5})
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg
    flat = flatten(cfg.to_dict())
    assert flat["model.latent_dim"] == 16 and flat["data.dataset_fraction"] == 0.5


@pytest.mark.parametrize(
    "raw, fragments",
    [
        ({"model": {"latnt_dim": 3}}, ["`model.latnt_dim`", "latent_dim"]),
        ({"modle": {}}, ["`modle`", "model"]),
        ({"model": {"latent_dim": "big"}}, ["`model.latent_dim`", "'big'", "an integer"]),
        ({"model": {"latent_dim": 1.5}}, ["`model.latent_dim`", "an integer"]),
        ({"model": {"conditional": 1}}, ["`model.conditional`", "true/false"]),
        ({"model": {"latent_dim": 0}}, ["`model.latent_dim`", "0", "[1, 8192]"]),
        ({"model": {"arch": "resnet"}}, ["`model.arch`", "'resnet'", "'dcgan'", "'mlp'"]),
        ({"loss": {"name": "hinge"}}, ["`loss.name`", "'wgan-gp'"]),
        ({"data": {"name": "cifar"}}, ["`data.name`", "'emnist_balanced'"]),
        ({"data": {"dataset_fraction": 0.0}}, ["`data.dataset_fraction`", "(0.0, 1.0]"]),
        ({"data": {"dataset_fraction": 1.5}}, ["`data.dataset_fraction`", "1.5"]),
        ({"data": {"dataset_fraction": 0.5, "num_images": 10}}, ["num_images", "dataset_fraction"]),
        ({"train": {"n_critic": 0}}, ["`train.n_critic`"]),
        ({"train": {"epochs": 2}}, ["train.iterations", "train.epochs"]),
        ({"optim": {"g_betas": [0.5]}}, ["`optim.g_betas`", "a list of 2"]),
        ({"optim": {"g_betas": [0.5, 1.5]}}, ["`optim.g_betas`", "[0, 1)"]),
        ({"loss": {"name": "wgan", "label_smoothing": 0.1}}, ["label_smoothing", "'wgan'"]),
        ({"loss": {"label_smoothing_random": True}}, ["label_smoothing_random", "label_smoothing"]),
        ({"data": {"name": "celeba"}, "model": {"conditional": True}}, ["no class labels", "mnist"]),
        ({"train": {"device": "tpu"}}, ["`train.device`", "'tpu'"]),
        ({"model": 5}, ["`model`", "mapping"]),
    ],
)
def test_bad_values_name_key_value_and_allowed(raw, fragments):
    raw = {**raw, "train": {"iterations": 1, **raw.get("train", {})}}
    if "epochs" in raw["train"]:
        raw["train"] = {"iterations": 1, "epochs": 2}
    with pytest.raises(ConfigError) as err:
        Config.from_dict(raw)
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_registry_rejects_duplicates_and_lists_names():
    with pytest.raises(ValueError, match="already registered"):
        ARCHITECTURES.add("mlp", object())
    with pytest.raises(ValueError, match="dcgan, mlp"):
        ARCHITECTURES.get("unet")
