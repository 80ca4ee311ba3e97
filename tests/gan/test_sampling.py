"""A generator loaded from its artifact samples exactly what the trainer sampled."""

import pytest
import torch

from gan import Config, Trainer
from gan.sampling import GENERATOR_ARTIFACT, Sampler, save_generator
from tests.helpers import mnist_test_data


@pytest.mark.parametrize("model", [
    {"arch": "dcgan", "latent_dim": 8, "g_width": 8, "d_width": 8},  # batch norm: eval-mode statistics
    {"arch": "mlp", "latent_dim": 8, "g_width": 16, "d_width": 16, "dropout": 0.5, "conditional": True,
     "sample_in_train_mode": True},  # dropout on while sampling: the masks come from the seed
], ids=["dcgan-bn", "mlp-dropout-train-mode"])
@pytest.mark.parametrize("noise", ["normal", "uniform"])
def test_a_logged_generator_samples_what_the_trainer_sampled(tmp_path, model, noise):
    cfg = Config.from_dict({"data": mnist_test_data(num_images=320), "model": model,
                            "train": {"iterations": 6, "eval_every": 6, "batch_size": 32, "noise": noise}})
    trainer = Trainer(cfg)
    trainer.run()
    path = save_generator(trainer.state_dict(), tmp_path / GENERATOR_ARTIFACT)
    sampler = Sampler.load(path)
    for seed in (0, 7):
        expected, labels = trainer.generate(60, seed=seed)
        got, got_labels = sampler.generate(60, seed=seed)
        assert torch.equal(got, expected) and torch.equal(got_labels, labels)
    # a different seed draws different samples, and sampling leaves the trainer's RNG where it was
    assert not torch.equal(sampler.generate(60, seed=1)[0], trainer.generate(60, seed=0)[0])
    state = torch.get_rng_state()
    sampler.generate(10, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    # the artifact holds the generator alone (no discriminator, no optimizer states)
    assert set(torch.load(path, weights_only=True)) == {"G", "config", "step"}
