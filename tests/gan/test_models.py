"""Every registered architecture x loss x conditional form trains on real data."""

import math

import pytest
import torch

from gan import ARCHITECTURES, LOSSES, Config, Trainer
from gan.config import ConfigError, ModelConfig
from gan.models import build_models
from tests.helpers import CLASSIFIER_SEED, mnist_test_data

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
    with pytest.raises(ValueError, match=r"`model.depth` is 5, but 28x28 images allow at most 4"):
        build_models(ModelConfig(arch="dcgan", depth=5), channels=1, image_size=28, num_classes=10, critic=False)


def _layout(net, kind):
    return [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0],
             m.output_padding[0] if kind is torch.nn.ConvTranspose2d else 0)
            for m in net.modules() if type(m) is kind]


def test_dcgan_depth_3_at_28_px_is_the_emnist_studys_wgan_gp():
    # the study's generator: ConvT(z+100 -> 256, 4, 2, 0), ConvT(256 -> 128, 5, 2, 2),
    # ConvT(128 -> 64, 5, 2, 2, output_padding 1), ConvT(64 -> 1, 5, 2, 2, output_padding 1);
    # its critic: Conv(1+1 -> 64, 5, 2, 2), Conv(64 -> 128, 5, 2, 2), Conv(128 -> 256, 5, 2, 2), Conv(256 -> 1, 4, 1, 0)
    cfg = ModelConfig(arch="dcgan", conditional=True, latent_dim=100, label_dim=100, g_width=64, d_width=64,
                      depth=3, critic_norm="instance")
    G, D = build_models(cfg, channels=1, image_size=28, num_classes=47, critic=True)
    # from a 1x1 input a stride of 1 or 2 gives the same 4x4 output
    assert _layout(G, torch.nn.ConvTranspose2d) == [
        (200, 256, 4, 1, 0, 0), (256, 128, 5, 2, 2, 0), (128, 64, 5, 2, 2, 1), (64, 1, 5, 2, 2, 1)]
    assert _layout(D, torch.nn.Conv2d) == [
        (2, 64, 5, 2, 2, 0), (64, 128, 5, 2, 2, 0), (128, 256, 5, 2, 2, 0), (256, 1, 4, 1, 0, 0)]
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in D.modules()) == 2
    y = torch.arange(8) % 47
    x = G(torch.randn(8, 100), y)
    assert x.shape == (8, 1, 28, 28) and D(x, y).shape == (8,)
    # sides that halve exactly keep the 4x4 kernels
    G, _ = build_models(ModelConfig(arch="dcgan", depth=2), channels=1, image_size=28, num_classes=1, critic=False)
    assert {k for _, _, k, s, _, _ in _layout(G, torch.nn.ConvTranspose2d) if s == 2} == {4}
    G, D = build_models(ModelConfig(arch="dcgan", depth=4), channels=1, image_size=28, num_classes=1, critic=False)
    assert G(torch.randn(2, 100)).shape == (2, 1, 28, 28) and D(torch.zeros(2, 1, 28, 28)).shape == (2,)


def test_critic_under_gradient_penalty_has_no_batch_norm():
    cfg = ModelConfig(arch="dcgan", critic_norm="layer")
    _, D = build_models(cfg, channels=1, image_size=28, num_classes=10, critic=True)
    kinds = {type(m).__name__ for m in D.modules()}
    assert "BatchNorm2d" not in kinds and "GroupNorm" in kinds
    _, D = build_models(ModelConfig(arch="dcgan"), channels=1, image_size=28, num_classes=10, critic=False)
    assert "BatchNorm2d" in {type(m).__name__ for m in D.modules()}
    G, D = build_models(
        ModelConfig(arch="dcgan", batch_norm=False), channels=1, image_size=28, num_classes=10, critic=False
    )
    assert not any("Norm" in type(m).__name__ for m in [*G.modules(), *D.modules()])


def test_label_encodings_and_mlp_study_layout():
    cfg = ModelConfig(
        arch="mlp", conditional=True, latent_dim=100, g_width=512, d_width=512, dropout=0.5, label_dim=256
    )
    G, D = build_models(cfg, channels=1, image_size=28, num_classes=10, critic=False)
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(356, 512), (512, 512), (512, 784)]
    onehot = ModelConfig(arch="dcgan", conditional=True, label_encoding="onehot")
    G, D = build_models(onehot, channels=1, image_size=28, num_classes=10, critic=False)
    assert G.stem.labels.dim == 10
    assert D(torch.zeros(2, 1, 28, 28), torch.tensor([1, 2])).shape == (2,)


def test_the_dcgan_cgan_studys_cdcgan_layer_for_layer():
    """Its appendix 7.11: G 7x7 (unit stride, no padding), 5x5 and 5x5 (stride 2) transposed convolutions
    from 256 channels down, batch norm on the first two; D 5x5, 5x5 (stride 2) and a 7x7 to one logit,
    up to 256 channels; one-hot labels after z and as planes beside the image."""
    cfg = ModelConfig(arch="dcgan", conditional=True, label_encoding="onehot", latent_dim=100, g_width=128,
                      d_width=128, depth=2, kernel_size=5)
    G, D = build_models(cfg, channels=1, image_size=28, num_classes=10, critic=False)
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == [
        (110, 256, 7, 1), (256, 128, 5, 2), (128, 1, 5, 2)]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules()) == 2
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == [
        (11, 128, 5, 2), (128, 256, 5, 2), (256, 1, 7, 1)]
    y = torch.arange(4) % 10
    x = G(torch.randn(4, 100), y)
    assert x.shape == (4, 1, 28, 28) and D(x, y).shape == (4,)


def test_extra_layers_and_labels_through_their_own_conv_layer():
    base = dict(arch="dcgan", conditional=True, g_width=16, d_width=16, depth=2, kernel_size=5)
    G, D = build_models(ModelConfig(**base, label_encoding="onehot", extra_layers=2), channels=1, image_size=28,
                        num_classes=10, critic=False)
    same = [m for m in [*G.modules(), *D.modules()] if isinstance(m, torch.nn.Conv2d) and m.stride == (1, 1)
            and m.kernel_size == (3, 3)]
    assert len(same) == 4  # two in G at 14x14, two in D at 14x14
    G, D = build_models(ModelConfig(**base, label_encoding="conv"), channels=1, image_size=28, num_classes=10,
                        critic=False)
    assert G.stem.y_branch[0].in_channels == 10 and D.stem.y_branch[0].in_channels == 10
    y = torch.tensor([3, 7])
    z = torch.randn(2, 100)
    x = G(z, y)
    assert x.shape == (2, 1, 28, 28) and D(x, y).shape == (2,)
    assert not torch.allclose(G(z, torch.tensor([4, 8])), x)  # the label changes the image
    with pytest.raises(
        ConfigError,
        match=r"`model.label_encoding` is 'conv', but must be one of 'embedding', 'onehot' for `model.arch: mlp`",
    ):
        ModelConfig(arch="mlp", conditional=True, label_encoding="conv")
    with pytest.raises(ConfigError, match=r"`model.kernel_size` is 4, but a stride-2 4x4 convolution"):
        Config.from_dict({"model": {"arch": "dcgan", "depth": 3, "kernel_size": 4}, "train": {"iterations": 1}})


def test_uniform_noise_and_sigmoid_output():
    cfg = Config.from_dict(
        {
            "data": mnist_test_data(num_images=64),
            "model": {"arch": "mlp", "output_activation": "sigmoid", "g_width": 16, "d_width": 16},
            "train": {"iterations": 1, "noise": "uniform", "batch_size": 8},
        }
    )
    t = Trainer(cfg)
    z = t.sampler.noise(1000, torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and z.std() > 0.5
    real, _ = t.batches.next()  # a real batch as the training step gets it, scaled for the sigmoid output
    assert real.min() >= 0 and real.max() <= 1


def test_pixel_range_set_apart_from_the_output_activation():
    """`data.pixel_range: -1..1` under a sigmoid generator (study 002's setting): real pixels reach -1, and the
    generator's output, read in that range, can never be darker than mid-grey."""
    cfg = Config.from_dict({
        "data": mnist_test_data(num_images=64, pixel_range="-1..1"),
        "model": {"arch": "mlp", "output_activation": "sigmoid", "g_width": 16, "d_width": 16},
        "train": {"iterations": 1, "batch_size": 8},
    })
    t = Trainer(cfg)
    real, _ = t.batches.next()
    assert real.min() == -1 and real.max() <= 1  # MNIST's black background, scaled to -1
    images, _ = t.generate(64, seed=0)
    assert images.min() >= 127  # sigmoid output in (0, 1) read as [-1, 1]: (x + 1) / 2 >= 0.5
    with pytest.raises(ConfigError, match=r"`data.pixel_range`"):
        Config.from_dict({"data": {"pixel_range": "0..255"}})


@pytest.mark.slow
def test_classifier_guidance_pulls_samples_towards_their_class():
    """The classifier-loss CGAN: with the classifier term dominating G's loss (weight 50), 40 steps make the
    frozen classifier read most samples as their conditioning class; without it they stay near chance
    (0.1). Measured with classifier seeds 0 and 1: 0.958 and 0.966 guided, 0.128 and 0.122 plain; the
    bounds 0.6 and 0.4 leave room for another machine."""
    def trained(weight):
        cfg = Config.from_dict({
            "data": mnist_test_data(num_images=2000),
            "model": {"arch": "dcgan", "conditional": True, "label_encoding": "onehot", "g_width": 16,
                      "d_width": 16, "depth": 2},
            "loss": {"name": "bce", "classifier_weight": weight, "classifier_seed": CLASSIFIER_SEED},
            "optim": {"g_lr": 2e-3},
            "train": {"iterations": 40, "batch_size": 50, "eval_every": 40},
        })
        t = Trainer(cfg)
        t.run()
        return t

    guided, plain = trained(50.0), trained(0.0)
    assert plain.g_terms == [] and len(guided.g_terms) == 1
    judge = guided.g_terms[0].classifier

    def accuracy(t):
        images, labels = t.generate(500)
        with torch.no_grad():
            return float((judge(images.float() / 127.5 - 1).argmax(1) == labels).float().mean())

    assert accuracy(guided) > 0.6 and accuracy(plain) < 0.4, (accuracy(guided), accuracy(plain))
