"""Every registered architecture x loss x conditional form trains on real data."""

import math

import pytest
import torch

from gan import ARCHITECTURES, LOSSES, Config, Trainer
from gan.config import ModelConfig
from gan.models import build_models
from tests.helpers import mnist_test_data

DATASETS = {
    "mnist": mnist_test_data(num_images=512),
    "fashion_mnist": {"name": "fashion_mnist", "num_images": 512},
}


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("loss", LOSSES.names())
@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_every_combination_trains_with_finite_losses(arch, loss, conditional, dataset):
    cfg = Config.from_dict(
        {
            "data": DATASETS[dataset],
            "model": {"arch": arch, "conditional": conditional, "latent_dim": 8, "g_width": 16, "d_width": 16},
            "loss": {"name": loss},
            "train": {"iterations": 3, "eval_every": 3, "batch_size": 16, "n_critic": 2},
        }
    )
    trainer = Trainer(cfg)
    reports = []
    result = trainer.run(report=reports.append)
    assert result.status == "completed" and result.step == 3 and len(reports) == 1
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "iters_per_sec", "wall_time_s"):
        assert math.isfinite(reports[0].metrics[key]), key
    assert ("wasserstein" in reports[0].metrics) == (loss != "bce")
    images, labels = trainer.generate(20)
    assert images.shape == (20, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.tolist() == [i % 10 for i in range(20)]


@pytest.mark.parametrize("arch", ARCHITECTURES.names())
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 64), (1, 64)])
@pytest.mark.parametrize("critic", [False, True])
def test_shapes_for_28_and_64_pixel_images(arch, channels, size, critic):
    cfg = ModelConfig(arch=arch, conditional=True, latent_dim=12, g_width=8, d_width=8, label_dim=5)
    G, D = build_models(cfg, channels=channels, image_size=size, num_classes=7, critic=critic)
    z, y = torch.randn(4, 12), torch.randint(0, 7, (4,))
    x = G(z, y)
    assert x.shape == (4, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x, y).shape == (4,)


def test_dcgan_depth_and_widths():
    cfg = ModelConfig(arch="dcgan", g_width=16, d_width=100, depth=4)
    G, D = build_models(cfg, channels=3, image_size=64, num_classes=1, critic=False)
    convs_g = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    convs_d = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs_g] == [128, 64, 32, 16, 3]  # 4x4 -> 64x64
    assert [c.out_channels for c in convs_d] == [100, 200, 400, 800, 1]
    with pytest.raises(ValueError, match="model.depth"):
        build_models(ModelConfig(arch="dcgan", depth=3), channels=1, image_size=28, num_classes=10, critic=False)


def test_critic_under_gradient_penalty_has_no_batch_norm():
    cfg = ModelConfig(arch="dcgan", critic_norm="layer")
    _, D = build_models(cfg, channels=1, image_size=28, num_classes=10, critic=True)
    kinds = {type(m).__name__ for m in D.modules()}
    assert "BatchNorm2d" not in kinds and "GroupNorm" in kinds
    _, D = build_models(ModelConfig(arch="dcgan"), channels=1, image_size=28, num_classes=10, critic=False)
    assert "BatchNorm2d" in {type(m).__name__ for m in D.modules()}
    G, D = build_models(ModelConfig(arch="dcgan", batch_norm=False), channels=1, image_size=28, num_classes=10, critic=False)
    assert not any("Norm" in type(m).__name__ for m in [*G.modules(), *D.modules()])


def test_label_encodings_and_mlp_study_layout():
    cfg = ModelConfig(arch="mlp", conditional=True, latent_dim=100, g_width=512, d_width=512, dropout=0.5, label_dim=256)
    G, D = build_models(cfg, channels=1, image_size=28, num_classes=10, critic=False)
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(356, 512), (512, 512), (512, 784)]
    onehot = ModelConfig(arch="dcgan", conditional=True, label_encoding="onehot")
    G, D = build_models(onehot, channels=1, image_size=28, num_classes=10, critic=False)
    assert next(G.modules()).labels.dim == 10
    assert D(torch.zeros(2, 1, 28, 28), torch.tensor([1, 2])).shape == (2,)


def test_uniform_noise_and_sigmoid_output():
    cfg = Config.from_dict(
        {
            "data": mnist_test_data(num_images=64),
            "model": {"arch": "mlp", "output_activation": "sigmoid", "g_width": 16, "d_width": 16},
            "train": {"iterations": 1, "noise": "uniform", "batch_size": 8},
        }
    )
    t = Trainer(cfg)
    z = t._noise(1000, torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and z.std() > 0.5
    real = t.real_batch(8)
    assert real.min() >= 0 and real.max() <= 1
