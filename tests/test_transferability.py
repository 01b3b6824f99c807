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


def test_chance_of_correlation_matches_the_exact_spearman_test():
    from scipy.stats import spearmanr

    from tlcourse.transferability import chance_of_correlation
    truth = [0.55, 0.62, 0.70, 0.71, 0.78, 0.80, 0.83, 0.90]
    estimates = [1, 3, 2, 4, 6, 5, 8, 7]  # nearly the same order
    exact = spearmanr(estimates, truth, alternative="greater").pvalue
    assert chance_of_correlation(estimates, truth) == pytest.approx(exact, abs=0.01)
    assert chance_of_correlation(estimates, truth) < 0.01
    assert chance_of_correlation(estimates[::-1], truth) > 0.99  # the reverse order: worse than almost any


# LogME of thuml/LogME (the authors' code, commit 56551ca94a3295bcc37e6a01b1291911af985f07, LogME.py, run with
# numpy in place of numba's @njit) on load_digits' first 300 rows / 16: `LogME().fit(x, y)`, the default
# fixed-point solver, for the true and the shuffled labels; `_fit_icml`, the ICML 2021 paper's algorithm, for the
# wide case (60 rows, 64 features). There the default solver gives 0.277034: its log-determinant keeps only the
# 60 directions the rows span and drops log(alpha) for the other 4, while the ICML solver and the exact Gaussian
# evidence maximised numerically (0.141926) keep them. Each reference value is the mean over classes of the
# evidence divided by the number of rows, as ours is. The solvers stop at a 1% (ICML) or 0.1% change in
# alpha / beta, so they differ from ours by up to 2e-5.
LOGME_REFERENCE = {"digits": 0.311321, "shuffled labels": -0.222856, "wide": 0.141910}


def test_logme_matches_the_authors_implementation():
    x, y = load_digits(return_X_y=True)
    x, y = x[:300] / 16, y[:300]
    ours = {"digits": logme(x, y), "shuffled labels": logme(x, np.random.default_rng(0).permutation(y)),
            "wide": logme(x[:60], y[:60])}
    assert ours == pytest.approx(LOGME_REFERENCE, abs=1e-4)
