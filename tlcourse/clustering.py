"""Lesson 10: unsupervised transfer. No labels anywhere: pretrained features to reduce and cluster images.

Three representations of the same images: raw pixels, a randomly initialised network's features,
and the ImageNet network's features. Each is standardised, reduced with PCA and clustered with
k-means; the hidden labels are used only to score the clusters (NMI and ARI).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

REPRESENTATIONS = ("raw pixels", "random network", "ImageNet network")


@dataclass
class ClusterScore:
    """Agreement between k-means clusters and the hidden labels, over k-means restarts."""

    nmi: list[float]
    ari: list[float]

    @property
    def mean_nmi(self) -> float:
        return statistics.mean(self.nmi)

    @property
    def mean_ari(self) -> float:
        return statistics.mean(self.ari)


@dataclass
class Clustering:
    """One data set: the representations, the hidden labels (for scoring and colouring) and the scores."""

    dataset: str
    representations: dict[str, np.ndarray]
    hidden_labels: np.ndarray
    classes: list[str]
    scores: dict[str, ClusterScore]

    def pretrained_margin(self) -> float:
        """ImageNet features' NMI minus the better baseline's NMI."""
        baselines = [self.scores[name].mean_nmi for name in REPRESENTATIONS[:2]]
        return self.scores["ImageNet network"].mean_nmi - max(baselines)


def reduce(features: np.ndarray, dimensions: int = 50) -> np.ndarray:
    """Standardise each column, then keep the top principal components."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    scaled = StandardScaler().fit_transform(features)
    return PCA(min(dimensions, *scaled.shape), random_state=0).fit_transform(scaled)


def cluster_score(features: np.ndarray, hidden_labels: np.ndarray, k: int, restarts: int = 3,
                  seed: int = 0) -> ClusterScore:
    """k-means (k clusters) on the reduced features, `restarts` seeds from `seed`; NMI and ARI against the hidden
    labels."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    reduced = reduce(features)
    nmi, ari = [], []
    for restart in range(restarts):
        clusters = KMeans(k, n_init=10, random_state=seed + restart).fit_predict(reduced)
        nmi.append(float(normalized_mutual_info_score(hidden_labels, clusters)))
        ari.append(float(adjusted_rand_score(hidden_labels, clusters)))
    return ClusterScore(nmi, ari)


def map_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 2-D t-SNE map of the reduced features, for plotting."""
    from sklearn.manifold import TSNE
    reduced = reduce(features)
    return TSNE(2, perplexity=min(30.0, (len(reduced) - 1) / 3), init="pca", random_state=seed).fit_transform(reduced)


def image_representations(dataset: str, model: str = "efficientnet_lite0", image_size: int = 128,
                          domain: str | None = None, images_per_class: int | None = None, seed: int = 0):
    """Raw pixels, random-network and ImageNet-network features of the training images, plus their labels."""
    import torch

    from tlcourse.assets.models import get_model_spec
    from tlcourse.data import image_dataloaders
    from tlcourse.features import frozen_body, stage_outputs, unaugmented
    dls = image_dataloaders(dataset, image_size, 32, images_per_class, seed=seed, domain=domain, augment=False,
                            stats=get_model_spec(model).stats)
    loader = unaugmented(dls, "train")
    pixels = torch.cat([x.flatten(1).cpu() for x, _ in loader]).numpy()
    torch.manual_seed(seed)
    random_features, labels, _ = stage_outputs(frozen_body(model, pretrained=False), loader)
    imagenet_features = stage_outputs(frozen_body(model), loader).features
    representations = dict(zip(REPRESENTATIONS, (pixels, random_features[-1].numpy(), imagenet_features[-1].numpy())))
    return representations, labels.numpy(), list(dls.vocab)


def unsupervised_transfer(dataset: str = "photos5", domain: str | None = None, image_size: int = 128,
                          images_per_class: int | None = None, model: str = "efficientnet_lite0") -> Clustering:
    """Cluster one data set three ways and score each against the hidden labels (seeds: the profile's first)."""
    from tlcourse.profiles import active_profile
    seed = active_profile().seeds[0]
    representations, labels, classes = image_representations(dataset, model, image_size, domain, images_per_class,
                                                             seed)
    scores = {name: cluster_score(x, labels, len(classes), seed=seed) for name, x in representations.items()}
    name = f"{dataset}/{domain}" if domain else dataset
    print(f"{name}: " + ", ".join(f"{n} NMI {s.mean_nmi:.2f}" for n, s in scores.items()))
    return Clustering(name, representations, labels, classes, scores)
