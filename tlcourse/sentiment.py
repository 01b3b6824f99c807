"""Lesson 14: sentiment by fine-tuning a pretrained language model, against frozen sentence vectors and scratch.

The pretrained model is the course's MiniLM sentence encoder. Fine-tuning follows ULMFiT (Howard and Ruder
2018): train the new head first, then unfreeze one more layer from the top at each stage, with
discriminative learning rates (each layer down learns 2.6 times slower than the one above it).
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from fastai.callback import schedule  # noqa: F401  (adds fit_one_cycle to Learner)
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import params
from torch import nn

from tlcourse.profiles import active_profile, seed_everything
from tlcourse.text_data import Sentences, load_sentences, text_dataloaders
from tlcourse.train import SkipValidation

LAYER_FACTOR = 2.6  # ULMFiT's ratio of learning rates between a layer and the one below it
FROZEN, FINE_TUNED, SCRATCH = "frozen vectors + linear head", "fine-tuned (gradual unfreezing)", "same model from scratch"
METHODS = (FROZEN, FINE_TUNED, SCRATCH)


@dataclass(frozen=True)
class SentimentPlan:
    """How big the study is in one profile."""

    sizes: tuple  # labelled training sentences; None = all of them
    depth: int  # layers unfrozen from the top by the last stage of gradual unfreezing
    passes: int  # each stage trains for at least this many sentences (whole epochs)
    test_size: int  # balanced test sentences per domain
    seeds: int
    scratch_sizes: tuple | None = None  # sizes at which scratch trains too (None: all); it is the costliest


PLANS = {
    "smoke": SentimentPlan(sizes=(50, 200), depth=2, passes=100, test_size=200, seeds=1, scratch_sizes=(200,)),
    "cpu": SentimentPlan(sizes=(50, 100, 200, 500), depth=3, passes=300, test_size=340, seeds=2),
    "full": SentimentPlan(sizes=(50, 100, 200, 500, None), depth=6, passes=500, test_size=340, seeds=3),
}


class SentimentClassifier(nn.Module):
    """A transformer encoder, mean-pooled over the real tokens, then dropout and one linear layer: ids in, scores out."""

    def __init__(self, transformer: nn.Module, n_classes: int, pad_id: int, dropout: float = 0.1):
        super().__init__()
        transformer.pooler = None  # BERT's pooling layer: not used here (we average the tokens), so not trained
        self.transformer, self.pad_id = transformer, pad_id
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(transformer.config.hidden_size, n_classes))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.as_subclass(torch.Tensor)  # fastai's tensor subclasses would slow every later operation
        mask = ids != self.pad_id
        tokens = self.transformer(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        return self.head((tokens * weights).sum(1) / weights.sum(1).clamp(min=1))


def layer_groups(model: SentimentClassifier) -> list:
    """Parameter groups, bottom to top: embeddings, each transformer layer, the head (so `freeze_to(-k)`
    leaves the top k groups trainable)."""
    transformer = model.transformer
    return [params(transformer.embeddings)] + [params(layer) for layer in transformer.encoder.layer] + \
        [params(model.head)]


def sentiment_learner(dls, encoder, pretrained: bool = True, seed: int = 0) -> Learner:
    """A fastai Learner on a copy of `encoder`'s transformer (pretrained) or the same architecture with random
    weights (pretrained=False), with a new head for `dls`'s classes."""
    from transformers import AutoModel
    seed_everything(seed, dls)
    transformer = copy.deepcopy(encoder.transformer) if pretrained else AutoModel.from_config(encoder.transformer.config)
    model = SentimentClassifier(transformer, len(dls.vocab), encoder.tokenizer.pad_token_id)
    learn = Learner(dls, model.to(dls.device), loss_func=CrossEntropyLossFlat(), metrics=accuracy,
                    splitter=layer_groups, cbs=SkipValidation(),  # each stage is scored once, on its own test sets
                    train_bn=False)  # fastai would keep training the frozen layers' LayerNorms (and backpropagate
    return learn                     # through every layer to reach them)


def stage_epochs(sentences: int, passes: int) -> int:
    """Whole epochs so that a stage sees at least `passes` sentences (tiny sets get more epochs)."""
    return max(1, math.ceil(passes / sentences))


def gradual_unfreezing(learn: Learner, depth: int, epochs: int, head_lr: float = 3e-2, top_lr: float = 1e-3,
                       score=None) -> list[float]:
    """ULMFiT's schedule: the head alone, then one more transformer layer from the top per stage, until `depth`
    layers train; each stage is one one-cycle fit of `epochs`. Returns `score(learn)` after each stage."""
    layers = len(learn.model.transformer.encoder.layer)
    if not 0 <= depth <= layers:
        raise ValueError(f"depth must be between 0 (head only) and {layers} (every layer), not {depth}.")
    groups = len(layer_groups(learn.model))
    scores = []
    for unfrozen in range(depth + 1):
        learn.freeze_to(-(unfrozen + 1))
        lr = head_lr if unfrozen == 0 else slice(top_lr / LAYER_FACTOR ** (groups - 1), top_lr)
        learn.fit_one_cycle(epochs, lr)
        scores.append(score(learn) if score else None)
    return scores


def trainable_parameters(model: nn.Module) -> int:
    """How many of the model's weights would change in training (requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_accuracy(learn: Learner, sentences: Sentences) -> float:
    """Accuracy on labelled sentences that training never saw."""
    dl = learn.dls.test_dl(list(zip(sentences.texts, sentences.labels)), with_labels=True)
    with learn.no_bar():
        return float(learn.validate(dl=dl)[1])


def frozen_vectors_classifier(encoder, train: Sentences, regularisation: float = 1.0):
    """Logistic regression on the frozen encoder's sentence vectors (lesson 09's method): a function from
    sentences to accuracy."""
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression(C=regularisation, max_iter=2000).fit(encoder.encode(train.texts).numpy(), train.labels)
    return lambda sentences: float(np.mean(model.predict(encoder.encode(sentences.texts).numpy())
                                           == np.array(sentences.labels)))


@dataclass
class SentimentRun:
    """One method trained on `labels` sentences with one seed, scored in its own domain and in the other."""

    method: str
    labels: int
    seed: int
    accuracy: float
    other_domain_accuracy: float
    seconds: float
    stage_accuracies: list[float] = field(default_factory=list)  # after each unfreezing stage (fine-tuning only)


@dataclass
class SentimentStudy:
    """Frozen vectors, gradual fine-tuning and scratch, at several numbers of labels and seeds."""

    domain: str
    other_domain: str
    depth: int
    runs: list[SentimentRun]

    @property
    def sizes(self) -> list[int]:
        """The numbers of labelled sentences studied, smallest first."""
        return sorted({r.labels for r in self.runs})

    def accuracy(self, method: str, labels: int, other_domain: bool = False) -> float:
        """Mean over seeds (NaN where the method did not run at that size)."""
        scores = [r.other_domain_accuracy if other_domain else r.accuracy
                  for r in self.runs if r.method == method and r.labels == labels]
        return statistics.mean(scores) if scores else float("nan")

    def margins(self, over: str, other_domain: bool = False) -> dict[int, float]:
        """Fine-tuned minus `over`, per number of labels at which both ran (means over seeds)."""
        gaps = {n: self.accuracy(FINE_TUNED, n, other_domain) - self.accuracy(over, n, other_domain)
                for n in self.sizes}
        return {n: gap for n, gap in gaps.items() if not math.isnan(gap)}

    def table(self) -> pd.DataFrame:
        """Accuracy (mean over seeds) in the training domain per method and number of labels."""
        return pd.DataFrame({method: [self.accuracy(method, n) for n in self.sizes] for method in METHODS},
                            index=pd.Index(self.sizes, name=f"{self.domain} labels")).round(3)

    def cross_domain_table(self) -> pd.DataFrame:
        """Accuracy of the same models on the other domain (never trained on), beside their own domain's."""
        rows = {f"{method}: {domain}": [self.accuracy(method, n, other) for n in self.sizes]
                for method in (FROZEN, FINE_TUNED)
                for domain, other in ((self.domain, False), (self.other_domain, True))}
        return pd.DataFrame(rows, index=pd.Index(self.sizes, name=f"{self.domain} labels")).T.round(3)

    def stage_table(self) -> pd.DataFrame:
        """What each extra unfrozen layer bought: accuracy after each stage of gradual unfreezing (mean over seeds)."""
        rows = {}
        for n in self.sizes:
            runs = [r.stage_accuracies for r in self.runs if r.method == FINE_TUNED and r.labels == n]
            rows[n] = [statistics.mean(stage) for stage in zip(*runs)]
        columns = ["head only"] + [f"+ top {k} layer{'s' if k > 1 else ''}" for k in range(1, self.depth + 1)]
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis(f"{self.domain} labels").round(3)


def step_costs(learn: Learner, depths, rounds: int = 2) -> pd.DataFrame:
    """Seconds of one training step (forward, backward, optimiser) with the top `k` layers unfrozen, for each k in
    `depths`: the median of `rounds`, interleaved so that load on the machine hits every k alike. On the CPU they are
    process-CPU seconds (robust to other programs); on a GPU, wall seconds after the GPU finished. The weights are
    restored afterwards."""
    on_gpu = next(learn.model.parameters()).is_cuda
    clock = time.perf_counter if on_gpu else time.process_time
    state = copy.deepcopy(learn.model.state_dict())
    ids, labels = learn.dls.one_batch()
    learn.model.train()
    seconds = {k: [] for k in depths}
    for _ in range(rounds + 1):  # the first round warms up
        for k in depths:
            learn.freeze_to(-(k + 1))
            start = clock()
            learn.loss_func(learn.model(ids), labels).backward()
            learn.opt.step()
            learn.opt.zero_grad()
            if on_gpu:
                torch.cuda.synchronize()
            seconds[k].append(clock() - start)
    learn.model.load_state_dict(state)
    rows = []
    for k in depths:
        learn.freeze_to(-(k + 1))
        rows.append((k, trainable_parameters(learn.model), statistics.median(seconds[k][1:])))
    table = pd.DataFrame(rows, columns=["layers unfrozen", "parameters trained", "seconds per step"])
    table["parameters trained"] = table["parameters trained"].map(lambda n: f"{n / 1e6:.2f} M")
    table["cost vs head only"] = (table["seconds per step"] / table["seconds per step"].iloc[0]).round(2)
    table["seconds per step"] = table["seconds per step"].round(3)
    return table.set_index("layers unfrozen")


def compare_sentiment(domain: str = "amazon", other_domain: str = "tweets", plan: SentimentPlan | None = None,
                      encoder=None, batch_size: int = 32, seed: int | None = None) -> SentimentStudy:
    """Train the three methods on `domain`'s labelled sentences at each size in `plan` (default: the profile's)
    and score them on held-out sentences of `domain` and of `other_domain`."""
    from tlcourse.assets.text_models import load_text_encoder
    profile = active_profile()
    plan = plan or PLANS[profile.name]
    encoder = encoder or load_text_encoder()
    base = profile.seeds[0] if seed is None else seed
    test = load_sentences(domain, "valid", limit=plan.test_size, seed=base)
    other = load_sentences(other_domain, "valid", limit=plan.test_size, seed=base)
    runs = []
    for run_seed in range(base, base + plan.seeds):
        for size in plan.sizes:
            train = load_sentences(domain, "train", limit=size, seed=run_seed)
            runs += _runs_at_size(encoder, train, size, test, other, plan, batch_size, run_seed)
    return SentimentStudy(domain, other_domain, plan.depth, runs)


def _runs_at_size(encoder, train: Sentences, size: int | None, test: Sentences, other: Sentences, plan: SentimentPlan,
                  batch_size: int, seed: int) -> list[SentimentRun]:
    dls = text_dataloaders(train, test, encoder.tokenizer, batch_size)
    epochs = stage_epochs(len(train), plan.passes)
    start = time.perf_counter()
    frozen = frozen_vectors_classifier(encoder, train)
    runs = [SentimentRun(FROZEN, len(train), seed, frozen(test), frozen(other), time.perf_counter() - start)]
    learn = sentiment_learner(dls, encoder, pretrained=True, seed=seed)
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        stages = gradual_unfreezing(learn, plan.depth, epochs, score=lambda learn: test_accuracy(learn, test))
    runs.append(SentimentRun(FINE_TUNED, len(train), seed, stages[-1], test_accuracy(learn, other),
                             time.perf_counter() - start, stages))
    if plan.scratch_sizes is None or size in plan.scratch_sizes:
        learn = sentiment_learner(dls, encoder, pretrained=False, seed=seed)
        start = time.perf_counter()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(epochs * (plan.depth + 1), 5e-4)  # as many epochs as all fine-tuning stages together
        runs.append(SentimentRun(SCRATCH, len(train), seed, test_accuracy(learn, test), float("nan"),
                                 time.perf_counter() - start))
    return runs


def ulmfit_imdb(epochs: int = 4) -> float | None:
    """ULMFiT's model, online and in the `full` profile only: fastai's AWD-LSTM, pretrained on WikiText-103, as a
    classifier fine-tuned on IMDb's 25,000 training reviews (`fine_tune`: head, then all; ULMFiT's last stage only,
    without first fine-tuning the language model on IMDb); test accuracy. Elsewhere it prints one line saying why it
    skipped, and returns None."""
    from tlcourse.assets.text_models import load_awd_lstm_weights
    from tlcourse.data import dataset_path
    from tlcourse.errors import DownloadError
    if active_profile().name != "full":
        print(f"Skipped: ULMFiT on IMDb runs in the `full` profile only (it wants a GPU); this is "
              f"`{active_profile().name}`.")
        return None
    try:
        folder = dataset_path("imdb")
        load_awd_lstm_weights()
    except DownloadError as error:
        print(f"Skipped: {error}")
        return None
    from fastai.text.all import AWD_LSTM, TextDataLoaders, text_classifier_learner
    dls = TextDataLoaders.from_folder(folder, valid="test", bs=64)
    learn = text_classifier_learner(dls, AWD_LSTM, drop_mult=0.5, metrics=accuracy)
    learn.fine_tune(epochs, 1e-2)
    return float(learn.validate()[1])
