"""Lesson 07: score candidate backbones on the target data before fine-tuning, then check against the truth."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from tlcourse.assets.models import get_model_spec, model_names
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile
from tlcourse.transferability import chance_of_correlation, knn_score, logme, probe_score, rank_correlation

ESTIMATES = ("LogME", "kNN", "linear probe")
IMAGENET_TOP1 = "ImageNet top-1"


@dataclass
class Candidate:
    """One backbone (a registry model, possibly cut after `stages` stages): its cost, scores and true accuracy."""

    model: str
    stages: int
    parameters_m: float
    cpu_ms: float
    imagenet_top1: float
    scores: dict[str, float]
    score_seconds: float  # features (shared by the cuts of one model, split evenly) plus the three scores
    accuracies: list[float] = field(default_factory=list)  # after fine-tuning, one per seed
    finetune_seconds: float = 0.0  # all seeds

    @property
    def name(self) -> str:
        return self.model if self.stages == 5 else f"{self.model}[:{self.stages}]"

    @property
    def accuracy(self) -> float:
        return statistics.mean(self.accuracies)


@dataclass
class ModelChoice:
    dataset: str
    images_per_class: int
    candidates: list[Candidate]

    def _scores(self, estimate: str, whole_only: bool) -> tuple[list[float], list[float]]:
        chosen = [c for c in self.candidates if c.stages == 5 or not whole_only]
        return ([c.imagenet_top1 if estimate == IMAGENET_TOP1 else c.scores[estimate] for c in chosen],
                [c.accuracy for c in chosen])

    def correlation(self, estimate: str, whole_only: bool = False) -> float:
        """Rank correlation of an estimate (or ImageNet top-1) with the fine-tuned accuracies, over all
        candidates or the whole models only (cut bodies have no ImageNet top-1 of their own)."""
        return rank_correlation(*self._scores(estimate, whole_only))

    def chance(self, estimate: str) -> float:
        """How often a random scorer would rank all the candidates at least as well as `estimate` did."""
        return chance_of_correlation(*self._scores(estimate, whole_only=False))

    @property
    def cost_ratio(self) -> float:
        """Seconds spent on estimates divided by seconds spent fine-tuning every candidate once (one seed each,
        as the estimates are computed once)."""
        return (sum(c.score_seconds for c in self.candidates)
                / sum(c.finetune_seconds / len(c.accuracies) for c in self.candidates))

    def table(self):
        import pandas as pd
        rows = [{"candidate": c.name, "params (M)": c.parameters_m, "CPU ms": c.cpu_ms,
                 **{k: round(v, 3) for k, v in c.scores.items()}, "score s": round(c.score_seconds, 2),
                 "fine-tuned acc": round(c.accuracy, 3), "fine-tune s": round(c.finetune_seconds, 1)}
                for c in self.candidates]
        return pd.DataFrame(rows).set_index("candidate").sort_values("LogME", ascending=False)


def choose_model(dataset: str = "photos5", models: list[str] | None = None, cuts: tuple[int, ...] = (4, 5),
                 images_per_class: int = 10, domain: str | None = None, profile: Profile | None = None) -> ModelChoice:
    """Score every candidate on frozen features (training images only), then fine-tune each and compare."""
    from tlcourse.assets.models import count_parameters
    from tlcourse.cost import cpu_latency_ms
    from tlcourse.features import extract_stage_features
    from tlcourse.train import fine_tune, transfer_model
    profile = profile or active_profile()
    seeds = profile.seeds[:profile.sweep_seeds]
    candidates = []
    for model in models or model_names(offline_only=True):
        spec = get_model_spec(model)
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class,
                                seed=seeds[0], stats=spec.stats, domain=domain)
        stage_features = extract_stage_features(dls, model, stages=max(cuts))
        feature_seconds = stage_features[0].seconds / len(cuts)  # the body's time, also when cached
        for stages in cuts:
            features = stage_features[stages - 1]
            x, y = features.train.numpy(), features.train_labels.numpy()
            start = time.perf_counter()
            scores = {"LogME": logme(x, y), "kNN": knn_score(x, y), "linear probe": probe_score(x, y)}
            score_seconds = feature_seconds + time.perf_counter() - start
            network = transfer_model(model, len(dls.vocab), stages=stages)
            candidate = Candidate(model, stages, round(count_parameters(network) / 1e6, 2),
                                  round(cpu_latency_ms(network, profile.image_size), 1), spec.imagenet_top1,
                                  scores, score_seconds)
            for seed in seeds:
                seed_dls = dls if seed == seeds[0] else image_dataloaders(
                    dataset, profile.image_size, profile.batch_size, images_per_class, seed=seed, stats=spec.stats,
                    domain=domain)
                result = fine_tune(seed_dls, model, profile.epochs, seed=seed, stages=stages)
                candidate.accuracies.append(result.accuracy)
                candidate.finetune_seconds += result.seconds
            print(f"{candidate.name}: LogME {scores['LogME']:.3f}, fine-tuned {candidate.accuracy:.3f}")
            candidates.append(candidate)
    return ModelChoice(dataset, images_per_class, candidates)
