"""Lesson 09: transductive transfer. Same task, a new domain whose labels we do not have.

Every method trains the same classifier (a logistic regression on frozen pretrained features)
on the labelled source; the unlabelled target images or sentences may be used, their labels not.
Accuracy is cross-validated over the target: it is split into folds, each fold is held out in
turn (its rows are neither labelled nor unlabelled training data), and every target row is
scored once, by a model that never saw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

SOURCE_ONLY = "source only"


@dataclass
class DomainFeatures:
    """Frozen features of a labelled source and of the target, whose labels are hidden from every method."""

    source: np.ndarray
    source_labels: np.ndarray
    target: np.ndarray
    target_hidden_labels: np.ndarray  # for scoring, and for the oracle; never for a method


@dataclass
class Adaptation:
    """Target-test accuracy of each method, with the oracle (trained on target labels) as the ceiling."""

    case: str
    accuracy: dict[str, float]  # the mean over seeds, where there are several
    oracle: float | None  # None where no oracle was trained
    sizes: dict[str, int]
    per_seed: list[dict[str, float]] = field(default_factory=list)  # accuracy per method, one dict per seed

    def table(self):
        """Accuracy per method (and the oracle), with the difference to source only in points."""
        import pandas as pd
        rows = {**self.accuracy, **({} if self.oracle is None else {"oracle (target labels)": self.oracle})}
        return pd.DataFrame({"accuracy": rows, "points vs source only": {
            name: 100 * (value - self.accuracy[SOURCE_ONLY]) for name, value in rows.items()}}).round(3).rename_axis(self.case)

    @property
    def best_method(self) -> str:
        return max((m for m in self.accuracy if m != SOURCE_ONLY), key=self.accuracy.get)

    @property
    def gain(self) -> float:
        """Best adaptation method minus source only, in accuracy units."""
        return self.accuracy[self.best_method] - self.accuracy[SOURCE_ONLY]


def classifier(regularisation: float = 10.0):
    """The classifier every method trains: standardise, then a logistic regression with an L2 penalty of
    weight `regularisation` (larger = simpler model; scikit-learn's C is its inverse)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(C=1 / regularisation, max_iter=3000))


def self_training(source, source_labels, target, rounds: int = 3, keep: float = 0.5, regularisation: float = 10.0,
                  first=None):
    """Retrain on the source plus the target rows the current model is most sure of (top `keep` per class),
    starting from `first` (the source-only classifier) if given."""
    model = first or classifier(regularisation).fit(source, source_labels)
    for _ in range(rounds):
        probabilities = model.predict_proba(target)
        guesses, confidence = model.classes_[probabilities.argmax(1)], probabilities.max(1)
        chosen = np.zeros(len(target), dtype=bool)
        for label in np.unique(guesses):  # per class, so the majority class cannot take over
            rows = np.flatnonzero(guesses == label)
            chosen[rows[confidence[rows] >= np.quantile(confidence[rows], 1 - keep)]] = True
        model = classifier(regularisation).fit(np.vstack([source, target[chosen]]),
                                         np.concatenate([source_labels, guesses[chosen]]))
    return model


def standardise_per_domain(features, reference):
    """Centre and scale features with the statistics of their own domain (`reference` rows of it)."""
    return (features - reference.mean(0)) / (reference.std(0) + 1e-6)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.weight * grad, None


class DANN(nn.Module):
    """Domain-adversarial network (Ganin et al. 2016) on frozen features: a shared layer, a label head,
    and a domain head whose reversed gradient pushes the shared layer to hide which domain a row is from."""

    def __init__(self, n_features: int, n_classes: int, hidden: int = 128):
        super().__init__()
        self.shared = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
        self.label = nn.Linear(hidden, n_classes)
        self.domain = nn.Sequential(nn.Linear(hidden, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        return self.label(self.shared(x))


def train_dann(source, source_labels, target, steps: int = 600, adversary: float = 0.3, seed: int = 0,
               batch_size: int = 32):
    """Fit a DANN; returns a predict function. The adversary's weight ramps up from 0 as in the paper."""
    from tlcourse.profiles import one_thread
    with one_thread():
        return _fit_dann(source, source_labels, target, steps, adversary, seed, batch_size)


def _fit_dann(source, source_labels, target, steps, adversary, seed, batch_size):
    torch.manual_seed(seed)
    mean, std = source.mean(0), source.std(0) + 1e-6
    xs = torch.tensor((source - mean) / std, dtype=torch.float32)
    xt = torch.tensor((target - mean) / std, dtype=torch.float32)
    classes = np.unique(source_labels)
    ys = torch.tensor(np.searchsorted(classes, source_labels))
    net = DANN(xs.shape[1], len(classes))
    optimiser = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    is_target = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)])
    for step in range(steps):
        weight = adversary * (2 / (1 + np.exp(-10 * step / steps)) - 1)
        rows = torch.randint(len(xs), (batch_size,))
        fs, ft = net.shared(xs[rows]), net.shared(xt[torch.randint(len(xt), (batch_size,))])
        domain = net.domain(_ReverseGradient.apply(torch.cat([fs, ft]), weight)).squeeze(1)
        loss = (nn.functional.cross_entropy(net.label(fs), ys[rows])
                + nn.functional.binary_cross_entropy_with_logits(domain, is_target))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()

    def predict(features):
        with torch.no_grad():
            x = torch.tensor((features - mean) / std, dtype=torch.float32)
            return classes[net(x).argmax(1).numpy()]
    return predict


@dataclass
class AdaBNFeatures:
    """AdaBN's inputs (Li et al. 2016): source features from the body with the source's own BatchNorm statistics,
    and the target images, whose statistics are re-estimated fold by fold on the rows a method may see."""

    model: str
    source: np.ndarray
    source_labels: np.ndarray
    target_images: torch.Tensor

    def target_features(self, unlabelled_rows: np.ndarray, test_rows: np.ndarray) -> np.ndarray:
        """Features of the test rows from a body whose statistics come from the unlabelled rows only."""
        from tlcourse.features import frozen_body, stage_outputs
        body = reestimate_batchnorm(frozen_body(self.model), _batches(self.target_images[unlabelled_rows]))
        return stage_outputs(body, _batches(self.target_images[test_rows])).features[-1].numpy()


def _profile_seed() -> int:
    from tlcourse.profiles import active_profile
    return active_profile().seeds[0]


def _batches(images: torch.Tensor, size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x, torch.zeros(len(x))) for x in images.split(size)]


METHODS = ("self-training", "standardise per domain", "DANN")  # AdaBN joins them when its inputs are given


def compare_methods(case: str, data: DomainFeatures, regularisation: float = 10.0, seed: int | None = None,
                    folds: int = 5, adabn: AdaBNFeatures | None = None, methods: tuple[str, ...] = METHODS) -> Adaptation:
    """Source only and `methods` (default: self-training, per-domain standardisation and DANN; AdaBN too, given
    its inputs), cross-validated over the target; the oracle is trained on the other folds' target labels.
    What does not depend on the fold (the source-only classifiers) is trained once. `seed` (default: the
    profile's first) sets the folds and DANN's initialisation."""
    from sklearn.model_selection import StratifiedKFold
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}: choose from {list(METHODS)} (AdaBN: pass `adabn`).")
    seed = _profile_seed() if seed is None else seed
    source_only = classifier(regularisation).fit(data.source, data.source_labels)
    scaled = (classifier(regularisation).fit(standardise_per_domain(data.source, data.source), data.source_labels)
              if "standardise per domain" in methods else None)
    adabn_model = None if adabn is None else classifier(regularisation).fit(adabn.source, adabn.source_labels)
    correct: dict[str, int] = {}
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(data.target, data.target_hidden_labels)
    for unlabelled_rows, test_rows in splits:
        test, labels = data.target[test_rows], data.target_hidden_labels[test_rows]
        unlabelled = data.target[unlabelled_rows]
        method = {
            "self-training": lambda: self_training(data.source, data.source_labels, unlabelled,
                                                   regularisation=regularisation, first=source_only).predict(test),
            "standardise per domain": lambda: scaled.predict(standardise_per_domain(test, unlabelled)),
            "DANN": lambda: train_dann(data.source, data.source_labels, unlabelled, seed=seed)(test),
        }
        predictions = {SOURCE_ONLY: source_only.predict(test), **{name: method[name]() for name in methods},
                       "oracle": classifier(regularisation).fit(unlabelled,
                                                                data.target_hidden_labels[unlabelled_rows]).predict(test)}
        if adabn is not None:
            predictions["AdaBN"] = adabn_model.predict(adabn.target_features(unlabelled_rows, test_rows))
        for name, predicted in predictions.items():
            correct[name] = correct.get(name, 0) + int(np.sum(predicted == labels))
    accuracy = {name: count / len(data.target) for name, count in correct.items()}
    oracle = accuracy.pop("oracle")
    sizes = {"source (labelled)": len(data.source), "target (labels hidden)": len(data.target)}
    return Adaptation(case, accuracy, oracle, sizes)


def sentiment_features(source: str = "amazon", target: str = "tweets", target_limit: int | None = 1500,
                       seed: int | None = None, encoder=None) -> DomainFeatures:
    """MiniLM sentence vectors of every labelled source sentence and of (at most `target_limit`, drawn with
    `seed`: default the profile's first) target sentences, whose labels are kept hidden for scoring."""
    from tlcourse.assets.text_models import load_text_encoder
    from tlcourse.text_data import load_sentences
    encoder = encoder or load_text_encoder()
    labelled = load_sentences(source, "all")
    seed = _profile_seed() if seed is None else seed
    target_sentences = load_sentences(target, "all", limit=target_limit, seed=seed)
    return DomainFeatures(encoder.encode(labelled.texts).numpy(), np.array(labelled.labels),
                          encoder.encode(target_sentences.texts).numpy(), np.array(target_sentences.labels))


def reestimate_batchnorm(body: nn.Module, loader) -> nn.Module:
    """AdaBN: replace every BatchNorm's running statistics with the average over `loader`'s images
    (torch's `update_bn`, as used for weight averaging); the body is returned in evaluation mode."""
    from torch.optim.swa_utils import update_bn

    from tlcourse.train import channels_last
    update_bn(loader, channels_last(body))
    return body.eval()


def image_features(source: str = "photos5", target: str = "clipart5", model: str = "efficientnet_lite0",
                   image_size: int = 128, source_domain: str | None = None, target_domain: str | None = None,
                   images_per_class: int | None = None,
                   seed: int | None = None) -> tuple[DomainFeatures, AdaBNFeatures]:
    """Frozen ImageNet features of all source and target images (both splits; at most `images_per_class`
    training images per class), and AdaBN's inputs: source features with the source's own BatchNorm
    statistics, and the target images for statistics re-estimated fold by fold."""
    from tlcourse.assets.models import get_model_spec
    from tlcourse.data import DataError, image_dataloaders
    from tlcourse.features import frozen_body, loader_images, stage_outputs, unaugmented
    stats = get_model_spec(model).stats
    seed = _profile_seed() if seed is None else seed  # which images, when images_per_class limits them

    def images(dataset, domain):
        dls = image_dataloaders(dataset, image_size, 32, images_per_class, seed=seed, stats=stats, domain=domain,
                                augment=False, valid_per_class=images_per_class, device="cpu")
        return list(dls.vocab), loader_images(unaugmented(dls, "train"), unaugmented(dls, "valid"))
    source_vocab, (source_images, source_labels) = images(source, source_domain)
    target_vocab, (target_images, target_labels) = images(target, target_domain)
    if source_vocab != target_vocab:
        raise DataError(f"{source} and {target} must have the same classes: {source_vocab} vs {target_vocab}.")

    def features(body, x):
        return stage_outputs(body, _batches(x)).features[-1].numpy()
    imagenet = frozen_body(model)
    plain = DomainFeatures(features(imagenet, source_images), source_labels,
                           features(imagenet, target_images), target_labels)
    source_body = reestimate_batchnorm(frozen_body(model), _batches(source_images))
    return plain, AdaBNFeatures(model, features(source_body, source_images), source_labels, target_images)


def finetuned_then_adabn(source: str = "photos5", target: str = "clipart5", model: str = "efficientnet_lite0",
                         image_size: int = 128, epochs: int = 6, folds: int = 5,
                         seeds: tuple[int, ...] | None = None) -> Adaptation:
    """fastai's standard fine_tune on the source (BatchNorm statistics follow the source, fastai's default),
    applied to the target as it is, and with AdaBN: statistics re-estimated on the other folds' target images.
    One network per seed (default: the profile's seeds); the accuracies are their mean."""
    import copy
    import statistics

    from sklearn.model_selection import StratifiedKFold

    from tlcourse.assets.models import get_model_spec
    from tlcourse.data import image_dataloaders
    from tlcourse.features import loader_images, unaugmented
    from tlcourse.profiles import active_profile, seed_everything
    from tlcourse.train import fit_logged, make_learner
    stats = get_model_spec(model).stats
    per_seed = []
    for seed in seeds or active_profile().seeds:
        source_dls = image_dataloaders(source, image_size, 16, seed=seed, stats=stats)
        seed_everything(seed, source_dls)
        learn = make_learner(source_dls, model, keep_bn_stats=False)
        fit_logged(learn, lambda learn: learn.fine_tune(epochs - 1, base_lr=2e-3, freeze_epochs=1))
        network = learn.model.eval().cpu()
        target_dls = image_dataloaders(target, image_size, 32, seed=seed, stats=stats, augment=False, device="cpu")
        images, labels = loader_images(unaugmented(target_dls, "train"), unaugmented(target_dls, "valid"))
        correct = {SOURCE_ONLY: 0, "AdaBN": 0}
        with torch.no_grad():
            for unlabelled_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(images,
                                                                                                             labels):
                adapted = copy.deepcopy(network)
                reestimate_batchnorm(adapted[0], _batches(images[unlabelled_rows]))
                for name, net in ((SOURCE_ONLY, network), ("AdaBN", adapted)):
                    correct[name] += int((net(images[test_rows]).argmax(1).numpy() == labels[test_rows]).sum())
        per_seed.append({name: count / len(labels) for name, count in correct.items()})
        print(f"seed {seed}: source only {per_seed[-1][SOURCE_ONLY]:.3f}, AdaBN {per_seed[-1]['AdaBN']:.3f}")
    accuracy = {name: statistics.mean(run[name] for run in per_seed) for name in per_seed[0]}
    return Adaptation(f"{source} -> {target}, fine-tuned network", accuracy, None,
                      {"source (labelled)": len(source_dls.train_ds) + len(source_dls.valid_ds),
                       "target (labels hidden)": len(labels)}, per_seed)
