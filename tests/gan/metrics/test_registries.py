"""One contract test over every entry of the metric, feature-extractor and classifier registries, as
tests/gan/test_models.py runs one over every architecture and loss: a new entry is tested by registering it."""

import math

import pytest
import torch

from gan.config import DataConfig
from gan.data import load_dataset
from gan.metrics import EVAL_SAMPLES, EXTRACTORS, METRICS, OUTPUTS, EvalConfig, Evaluator, build_extractor
from gan.metrics.classifier import CLASSIFIERS, accuracy, default_spec, fit_classifier
from gan.metrics.registry import NEED_KINDS, metric_needs, register_metric
from tests.helpers import CLASSIFIER_SEED, mnist_test_data

DIGITS = DataConfig(**mnist_test_data())


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DIGITS)


def _labelled_generator(images, labels):
    def generate(n, seed=0, labels_=None):
        idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
        return images[idx], labels[idx]

    return generate




@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_reports_exactly_its_declared_outputs_within_their_bounds(name, digits):
    needs = metric_needs(name)
    assert needs <= set(NEED_KINDS)
    cfg = EvalConfig(metrics=(name,), real_samples=500, num_samples=300, gan_test_repeats=2, kid_subset_size=100,
                     classifier_seed=CLASSIFIER_SEED)
    ev = Evaluator(cfg, DIGITS, conditional="labels" in needs)
    if "classifier" not in needs:
        # the domain extractor's evaluator always holds a classifier; one that did not declare it must not ask
        del ev.classifier_spec
    labels = digits.labels if "labels" in needs else torch.zeros_like(digits.labels)
    scores = ev.evaluate(_labelled_generator(digits.images, labels))
    declared = {out.name for out in OUTPUTS.values() if out.producer == name}
    assert declared and set(scores) == declared | {EVAL_SAMPLES}
    for out in declared:
        low, high = OUTPUTS[out].bounds
        assert math.isfinite(scores[out]) and low <= scores[out] <= high, (out, scores[out])


@pytest.mark.parametrize("name", [m for m in METRICS.names() if "labels" in metric_needs(m)])
def test_every_metric_that_needs_labels_refuses_an_unconditional_generator(name, digits):
    ev = Evaluator(EvalConfig(metrics=(name,), real_samples=100, num_samples=100, classifier_seed=CLASSIFIER_SEED),
                   DIGITS, conditional=False)
    with pytest.raises(ValueError, match="conditional"):
        ev.evaluate(_labelled_generator(digits.images, digits.labels))


def test_a_metric_with_an_unknown_need_is_refused_at_registration():
    with pytest.raises(ValueError, match="must be one of classifier, labels"):
        register_metric("needs_a_gpu", outputs={"gpu_score": "max"}, needs=("gpu",))
    assert "needs_a_gpu" not in METRICS and "gpu_score" not in OUTPUTS


def test_a_metric_that_is_not_a_function_is_refused_at_registration():
    with pytest.raises(ValueError, match="must be registered on a function fn\\(ctx\\)"):
        register_metric("not_a_function", outputs={"nf_score": "max"})(42)
    assert "not_a_function" not in METRICS and "nf_score" not in OUTPUTS


def test_the_name_of_what_the_training_loop_reports_is_not_a_metrics():
    # without this, a plugin named `training` would register with no outputs of its own, taking wall_time_s's
    with pytest.raises(ValueError, match="is taken"):
        register_metric("training")
    assert "training" not in METRICS


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_every_extractor_gives_float_features_and_logits_independent_of_batch_size(name, digits,
                                                                                   random_inception_weights):
    ex = build_extractor(name, classifier=default_spec(DIGITS, seed=CLASSIFIER_SEED),
                         inception_weights=str(random_inception_weights), device=torch.device("cpu"))
    assert ex.name == name and ex.key.startswith(name)
    images = digits.images[:12]
    out = ex(images)
    assert out["features"].dtype == out["logits"].dtype == torch.float32
    assert out["features"].shape[0] == out["logits"].shape[0] == 12
    assert torch.isfinite(out["features"]).all() and torch.isfinite(out["logits"]).all()
    ex.batch_size = 5
    assert torch.allclose(ex(images)["features"], out["features"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", CLASSIFIERS.names())
def test_every_classifier_maps_images_to_features_and_logits_and_learns_digits(name, digits):
    net = CLASSIFIERS.get(name)(3, 5).eval()
    for size in (28, 64):  # both sizes the datasets come in
        features, logits = net.forward_features(torch.zeros(2, 3, size, size))
        assert features.shape[0] == 2 and features.dim() == 2 and logits.shape == (2, 5)
        assert torch.equal(net(torch.zeros(2, 3, size, size)), logits)
    train_x, train_y, test_x, test_y = (
        digits.images[:3000],
        digits.labels[:3000],
        digits.images[-2000:],
        digits.labels[-2000:],
    )
    model = fit_classifier(train_x, train_y, 10, epochs=3, seed=CLASSIFIER_SEED, arch=name)
    # chance is 0.10; measured 0.96 (domain) and 0.86 (lenet): the bound sits 16 points below the lower one
    assert accuracy(model, test_x, test_y) > 0.7
