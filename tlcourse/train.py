"""fastai training on registry models: fine-tuning and training from scratch, returning a Result."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
# these add to_channelslast, to_fp16, no_bar and fine_tune to Learner
from fastai.callback import channelslast, fp16, progress, schedule  # noqa: F401
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.hook import num_features_model
from fastai.learner import Learner, Recorder
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import apply_init
from fastai.torch_core import params
from fastai.vision.learner import create_head
from torch import nn

from tlcourse.assets.models import body_of, build_model
from tlcourse.profiles import seed_everything


@dataclass
class Result:
    """What one training run gives: final validation accuracy, training seconds (validation excluded), the curve."""

    model: str
    pretrained: bool
    accuracy: float
    seconds: float
    epochs: int
    train_images: int
    seed: int
    history: list[float] = field(default_factory=list)  # validation accuracy after each epoch
    epoch_seconds: list[float] = field(default_factory=list)  # training seconds elapsed at the end of each epoch
    images_per_class: int | None = None  # as asked for (None = all), where an experiment sets it
    learner: Learner | None = field(default=None, repr=False, compare=False)  # the trained model, to predict or export

    def seconds_to_reach(self, target: float) -> float:
        """Training seconds until validation accuracy first reached `target` (inf if it never did)."""
        return next((s for a, s in zip(self.history, self.epoch_seconds) if a >= target), float("inf"))


def transfer_model(name: str, n_classes: int, pretrained: bool = True, stages: int = 5) -> nn.Sequential:
    """The registry model's body (ImageNet weights or random) with a new fastai head for `n_classes`.

    `stages` < 5 keeps only the first stages of the body. The head is pooling, dropout and one
    linear layer: small, to suit a few dozen training photos.
    """
    body = body_of(build_model(name, pretrained=pretrained), name)[:stages]
    head = create_head(num_features_model(body), n_classes, lin_ftrs=[], ps=0.25, first_bn=False)
    apply_init(head, nn.init.kaiming_normal_)
    return nn.Sequential(body, head)


def channels_last(module: nn.Module) -> nn.Module:
    """`module` with its weights in channels-last layout (in place) on the CPU and CUDA: our bodies' convolutions run
    1.3-1.8x faster on the CPU in it (efficientnet_lite0 training at 96 px, one thread: 0.40 s a batch of 8
    against 0.22 s); results are the same up to float rounding."""
    device = next(module.parameters()).device.type
    return module.to(memory_format=torch.channels_last) if device in ("cpu", "cuda") else module


def stage_split(model: nn.Sequential) -> list:
    """Parameter groups: one per body stage, then the head (so freeze_to(k) freezes the first k stages)."""
    return [params(stage) for stage in model[0]] + [params(model[1])]


class EpochLog(Callback):
    """Keep the validation accuracy and elapsed training time of every epoch, across fits."""

    order = Recorder.order + 1

    def __init__(self):
        self.history, self.seconds, self.elapsed = [], [], 0.0

    def before_epoch(self):
        self.start = time.perf_counter()

    def after_train(self):
        self.elapsed += time.perf_counter() - self.start

    def after_epoch(self):
        self.history.append(float(self.learn.recorder.values[-1][-1]))
        self.seconds.append(self.elapsed)


class SkipValidation(Callback):
    """Skip fastai's validation after every epoch of a fit, for runs that score the model once, at the end
    (validating every epoch can cost as much as the training on small sets); `learn.validate()` still works."""

    def before_train(self):
        self.trained = True

    def before_validate(self):  # fastai validates after training each epoch; `learn.validate()` trains nothing
        if getattr(self, "trained", False):
            self.trained = False
            raise CancelValidException()


class BodyBatchNormInEvalMode(Callback):
    """Keep the body's BatchNorm running statistics as ImageNet left them (tiny batches would spoil them)."""

    def before_train(self):
        model = getattr(self.learn.model, "module", self.learn.model)  # inside DistributedDataParallel when distributed
        for module in model[0].modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def make_learner(dls, name: str, pretrained: bool = True, train_bn: bool = False,
                 keep_bn_stats: bool | None = None, mixed_precision: bool | None = None, stages: int = 5,
                 body_weights: dict | None = None, loss_func=None, metric=accuracy, callbacks: tuple = ()):
    """A fastai Learner with a parameter group per body stage and one for the head.

    `body_weights` (a body's state_dict, e.g. from a network trained on another data set) replaces the
    body's starting weights; such a body counts as pretrained.
    Pretrained bodies keep ImageNet's BatchNorm statistics (keep_bn_stats) and, when frozen, their
    BatchNorm weights too (train_bn=False): fastai's defaults retrain both, which hurts on tiny data.
    Mixed precision is on by default on a GPU; on the CPU it is not used (bfloat16 autocast was slower for our
    models: fine_tune of efficientnet_lite0 at 160 px took 11.0 s against 9.8 s in float32).
    `loss_func` (default: cross-entropy) and `metric` (default: accuracy) are for other targets, e.g. soft ones;
    `callbacks` are added to the Learner (e.g. an app's progress bar).
    """
    model = transfer_model(name, len(dls.vocab), pretrained and body_weights is None, stages)
    if body_weights is not None:
        model[0].load_state_dict(body_weights)
        pretrained = True
    learn = Learner(dls, model, loss_func=loss_func or CrossEntropyLossFlat(), metrics=metric,
                    splitter=stage_split, train_bn=train_bn, cbs=list(callbacks))
    if pretrained if keep_bn_stats is None else keep_bn_stats:
        learn.add_cb(BodyBatchNormInEvalMode())
    if dls.device.type in ("cpu", "cuda"):
        learn.to_channelslast(use_amp=False)  # see `channels_last`
    if mixed_precision is None:
        mixed_precision = dls.device.type == "cuda"
    if mixed_precision and dls.device.type == "cuda":
        learn.to_bf16() if torch.cuda.is_bf16_supported() else learn.to_fp16()
    return learn


def fit_logged(learn: Learner, fit) -> EpochLog:
    """Run `fit(learn)` without progress bars; return the accuracy and training seconds of every epoch."""
    log = EpochLog()
    with learn.no_bar(), learn.no_logging(), learn.added_cbs(log):
        fit(learn)
    return log


def run_training(dls, name: str, pretrained: bool, seed: int, epochs: int, fit, stages: int = 5,
                 body_weights: dict | None = None, **learner_options) -> Result:
    """Seed, build the Learner (`make_learner` with `learner_options`), run `fit(learn)`, and log it as a Result."""
    seed_everything(seed, dls)
    learn = make_learner(dls, name, pretrained, stages=stages, body_weights=body_weights, **learner_options)
    log = fit_logged(learn, fit)
    return Result(name, pretrained, log.history[-1], log.elapsed, epochs, len(dls.train_ds), seed,
                  log.history, log.seconds, learner=learn)


def fine_tune(dls, name: str, epochs: int, freeze_epochs: int = 1, base_lr: float = 2e-3, seed: int = 0,
              stages: int = 5, body_weights: dict | None = None, pretrained: bool = True,
              callbacks: tuple = ()) -> Result:
    """Pretrained body (its first `stages`; ImageNet's or `body_weights`; random with pretrained=False, as a
    control) + new head: `freeze_epochs` head-only, then everything unfrozen."""
    if epochs <= freeze_epochs:
        raise ValueError(f"epochs ({epochs}) must exceed freeze_epochs ({freeze_epochs}).")
    return run_training(dls, name, pretrained or body_weights is not None, seed, epochs,
                lambda learn: learn.fine_tune(epochs - freeze_epochs, base_lr=base_lr, freeze_epochs=freeze_epochs),
                stages, body_weights, callbacks=callbacks)


def train_from_scratch(dls, name: str, epochs: int, lr: float = 3e-3, seed: int = 0) -> Result:
    """The same architecture, randomly initialised, trained end to end with one-cycle."""
    return run_training(dls, name, False, seed, epochs, lambda learn: learn.fit_one_cycle(epochs, lr))
