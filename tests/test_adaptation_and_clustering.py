import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from tlcourse.adaptation import SOURCE_ONLY, Adaptation, DomainFeatures, compare_methods, reestimate_batchnorm
from tlcourse.clustering import cluster_score
from tlcourse.data import image_dataloaders
from tlcourse.features import frozen_body


@pytest.fixture(scope="module")
def two_domains():
    """scikit-learn's 8x8 digits: the source as they are, the target with faded ink on grey paper."""
    x, y = load_digits(return_X_y=True)
    x = x / 16
    return DomainFeatures(x[:600], y[:600], 0.4 + 0.5 * x[600:900], y[600:900])


def test_every_method_is_scored_on_every_target_row_once(two_domains):
    result = compare_methods("digits -> faded digits", two_domains)
    assert set(result.accuracy) == {SOURCE_ONLY, "self-training", "standardise per domain", "DANN"}
    assert all(0 <= a <= 1 for a in result.accuracy.values())
    assert result.oracle > result.accuracy[SOURCE_ONLY]  # fading really is a shift
    assert result.sizes["target (labels hidden)"] == 300


def test_standardising_per_domain_undoes_an_affine_shift(two_domains):
    result = compare_methods("digits -> faded digits", two_domains)
    assert result.accuracy["standardise per domain"] > result.accuracy[SOURCE_ONLY] + 0.3


def test_best_method_and_gain_ignore_source_only():
    result = Adaptation("c", {SOURCE_ONLY: 0.9, "a": 0.7, "b": 0.8}, 0.95, {})
    assert result.best_method == "b" and result.gain == pytest.approx(-0.1)


def test_adabn_replaces_batchnorm_statistics_with_the_target_images():
    dls = image_dataloaders("clipart5", 64, 8, images_per_class=2, augment=False, device="cpu")
    body = frozen_body("mobilenet_v2")
    bn = next(m for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    reestimate_batchnorm(body, dls.train)
    assert not torch.allclose(before, bn.running_mean) and not body.training


def test_cluster_scores_are_perfect_for_label_features_and_low_for_noise():
    labels = np.repeat(np.arange(4), 25)
    perfect = cluster_score(np.eye(4)[labels] * 10, labels, 4)
    noise = cluster_score(np.random.default_rng(0).normal(size=(100, 8)), labels, 4)
    assert perfect.mean_nmi == pytest.approx(1) and perfect.mean_ari == pytest.approx(1)
    assert noise.mean_nmi < 0.2
