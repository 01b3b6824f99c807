"""Lesson 07: score candidate backbones on the target data before fine-tuning, then check against the truth."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from tlcourse.assets.models import get_model_spec, model_names
from tlcourse.data import image_dataloaders
from tlcourse.profiles import Profile, active_profile
from tlcourse.transferability import knn_score, logme, probe_score, rank_correlation

ESTIMATES = ("LogME", "kNN", "linear probe")


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

    def correlation(self, estimate: str) -> float:
        """Rank correlation of an estimate with the fine-tuned accuracies, over all candidates."""
        return rank_correlation([c.scores[estimate] for c in self.candidates], [c.accuracy for c in self.candidates])

    def imagenet_correlation(self) -> float:
        """The naive choice, ImageNet top-1, against the truth (whole models only: cuts share a top-1)."""
        whole = [c for c in self.candidates if c.stages == 5]
        return rank_correlation([c.imagenet_top1 for c in whole], [c.accuracy for c in whole])

    @property
    def cost_ratio(self) -> float:
        """Seconds spent on estimates divided by seconds spent fine-tuning every candidate."""
        return sum(c.score_seconds for c in self.candidates) / sum(c.finetune_seconds for c in self.candidates)

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
    from tlcourse.experiments import cpu_latency_ms
    from tlcourse.features import extract_stage_features
    from tlcourse.train import fine_tune, transfer_model
    profile = profile or active_profile()
    seeds = profile.seeds[:profile.sweep_seeds]
    candidates = []
    for model in models or model_names(offline_only=True):
        spec = get_model_spec(model)
        dls = image_dataloaders(dataset, profile.image_size, profile.batch_size, images_per_class,
                                seed=seeds[0], stats=spec.stats, domain=domain)
        start = time.perf_counter()
        stage_features = extract_stage_features(dls, model, stages=max(cuts))
        feature_seconds = (time.perf_counter() - start) / len(cuts)
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
