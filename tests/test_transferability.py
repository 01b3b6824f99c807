import numpy as np
import pytest
from sklearn.datasets import load_digits

from tlcourse.transferability import knn_score, logme, probe_score, rank_correlation


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)  # 8x8 handwritten digits shipped with scikit-learn
    return x[:500] / 16, y[:500]


def test_logme_prefers_features_that_explain_the_labels(digits):
    x, y = digits
    shuffled = np.random.default_rng(0).permutation(y)
    assert logme(x, y) > logme(x, shuffled) + 0.05
    noisy = x + np.random.default_rng(1).normal(scale=2.0, size=x.shape)
    assert logme(x, y) > logme(noisy, y)


def test_logme_works_with_more_features_than_images(digits):
    x, y = digits
    wide = np.hstack([x, x ** 2, np.sqrt(x)])[:100]
    assert np.isfinite(logme(wide, y[:100]))


def test_logme_rejects_one_class_and_mismatched_rows(digits):
    x, y = digits
    with pytest.raises(ValueError, match="two or more"):
        logme(x, np.zeros(len(x)))
    with pytest.raises(ValueError, match="labels"):
        logme(x, y[:-1])


def test_knn_and_probe_scores_are_cross_validated_accuracies(digits):
    x, y = digits
    assert 0.8 < knn_score(x, y) <= 1 and 0.8 < probe_score(x, y) <= 1
    shuffled = np.random.default_rng(0).permutation(y)
    assert knn_score(x, shuffled) < 0.3


def test_rank_correlation_reads_orders_not_values():
    assert rank_correlation([1, 2, 3], [10, 200, 3000]) == pytest.approx(1)
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
