"""KID and precision/recall with cached real terms give torch-fidelity's own values on the same features."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from gan.metrics.kid import kid
from gan.metrics.precision_recall import precision_recall
from gan.metrics.reference import RealReference


def reference(features: torch.Tensor, tmp_path) -> RealReference:
    n = features.shape[0]
    return RealReference(torch.zeros(n, 1, 2, 2, dtype=torch.uint8), torch.zeros(n, dtype=torch.long), features,
                         torch.zeros(n, 2), np.zeros(1), np.zeros((1, 1)), tmp_path / "real.pt", False)


@pytest.mark.parametrize("shift", [0.0, 0.3, 3.0])  # the same law, a near one, a far one
def test_kid_and_precision_recall_equal_torch_fidelity(tmp_path, shift):
    gen = torch.Generator().manual_seed(0)
    real_f = torch.randn(3000, 64, generator=gen)
    gen_f = torch.randn(2500, 64, generator=gen) * 1.1 + shift
    real = reference(real_f, tmp_path)
    theirs = kid_features_to_metric(gen_f, real_f, kid_subset_size=500, rng_seed=7, verbose=False)
    for _ in range(2):  # the second time from the cached real terms
        mean, std = kid(gen_f, real, subset=500, seed=7)
        assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4, abs=1e-6)
        assert std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-3, abs=1e-6)
    theirs = prc_features_to_metric(gen_f, real_f, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=True,
                                    verbose=False)
    for chunk in (4096, 700):  # chunking changes nothing
        precision, recall = precision_recall(gen_f, real, 3, chunk=chunk)
        # a point exactly on a ball's edge may fall either way with another summation order: 2 in 2500 at most
        assert precision == pytest.approx(theirs["precision"], abs=2 / 2500)
        assert recall == pytest.approx(theirs["recall"], abs=2 / 3000)
    assert (tmp_path / "real.radii3.pt").is_file()  # the real balls are cached beside the statistics
    if shift == 3.0:
        assert precision < 0.05 and recall < 0.05 and mean > 1.0
