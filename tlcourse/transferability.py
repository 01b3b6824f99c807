"""Transferability estimates: score a frozen backbone's features on the target data before fine-tuning it.

LogME (You et al. 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning")
is the log of the Bayesian evidence that the labels are a linear function of the features,
maximised over the prior and noise precisions; higher is better. No training, no validation set.
The kNN and linear-probe scores are cross-validated on the training images only.
"""

from __future__ import annotations

import numpy as np


def logme(features, labels, iterations: int = 20) -> float:
    """Mean per-class LogME evidence per sample of `features` (n, d) for integer `labels` (n,)."""
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    n, d = f.shape
    if len(labels) != n:
        raise ValueError(f"{n} feature rows but {len(labels)} labels.")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError("LogME needs labels of two or more classes.")
    u, singular, _ = np.linalg.svd(f, full_matrices=False)
    sigma = singular ** 2  # eigenvalues of f.T @ f that are not zero
    evidences = []
    for c in classes:
        y = (labels == c).astype(np.float64)
        z = u.T @ y  # y in the basis of the feature directions
        outside = max(float(y @ y - z @ z), 0.0)  # part of y no linear map of the features can reach
        alpha, beta = 1.0, 1.0  # prior precision of the weights, precision of the noise
        for _ in range(iterations):
            shrink = beta * sigma / (alpha + beta * sigma)
            gamma = shrink.sum()  # effective number of parameters
            weight_norm = float(np.sum((shrink * z) ** 2 / sigma.clip(1e-12)))
            residual = float(np.sum(((1 - shrink) * z) ** 2)) + outside
            new_alpha, new_beta = gamma / (weight_norm + 1e-5), (n - gamma) / (residual + 1e-5)
            converged = abs(new_alpha / new_beta - alpha / beta) <= 0.01 * alpha / beta
            alpha, beta = new_alpha, new_beta
            if converged:
                break
        log_det = np.sum(np.log(alpha + beta * sigma)) + (d - len(sigma)) * np.log(alpha)
        evidence = (d * np.log(alpha) + n * np.log(beta) - log_det - beta * residual - alpha * weight_norm
                    - n * np.log(2 * np.pi)) / 2
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def knn_score(features, labels, k: int = 5, folds: int = 3) -> float:
    """Cross-validated accuracy of a k-nearest-neighbour vote (cosine distance) on the features."""
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    knn = KNeighborsClassifier(n_neighbors=min(k, _smallest_fold(labels, folds) - 1 or 1), metric="cosine")
    return float(cross_val_score(knn, np.asarray(features), np.asarray(labels), cv=folds).mean())


def probe_score(features, labels, folds: int = 3) -> float:
    """Cross-validated accuracy of the logistic-regression probe of `features.linear_probe`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    return float(cross_val_score(probe, np.asarray(features), np.asarray(labels), cv=folds).mean())


def _smallest_fold(labels, folds: int) -> int:
    """Training rows in the smallest cross-validation training fold."""
    return len(labels) - -(-len(labels) // folds)


def rank_correlation(estimates, truth) -> float:
    """Spearman's rank correlation between two score lists (1: same order, -1: reversed)."""
    from scipy.stats import spearmanr
    return float(spearmanr(estimates, truth).statistic)


def chance_of_correlation(estimates, truth, permutations: int = 20_000, seed: int = 0) -> float:
    """How often a random ranking of the same candidates correlates with `truth` at least as well as
    `estimates` do (a one-sided permutation test; below 0.05 = better than a random scorer)."""
    observed = rank_correlation(estimates, truth)
    rng = np.random.default_rng(seed)
    from scipy.stats import rankdata
    truth_ranks, estimate_ranks = rankdata(truth), rankdata(estimates)
    shuffled = np.array([rng.permutation(estimate_ranks) for _ in range(permutations)])
    centred = shuffled - shuffled.mean(1, keepdims=True)
    truth_centred = truth_ranks - truth_ranks.mean()
    correlations = centred @ truth_centred / (np.linalg.norm(centred, axis=1) * np.linalg.norm(truth_centred))
    return float((correlations >= observed - 1e-12).mean())
