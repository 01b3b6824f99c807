"""Lesson 16, part 2: fine-tuning Whisper's decoder so that it transcribes a language it never learnt.

Whisper tiny.en, converted from the registry's CTranslate2 files to PyTorch, keeps its encoder frozen (its output
for each clip is computed once and cached, as lesson 05 caches a body's features) and its vocabulary embeddings
frozen; the decoder's layers are fine-tuned with fastai on about a minute and a half of spoken Welsh digits.
Single digits are scored on held-out voices, against two references: the model before tuning, and the same
tuning on US English clips (the control: what tuning does with no Welsh in it); a third model is tuned on both
languages (rehearsal, against forgetting English).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from fastai.callback import schedule  # noqa: F401  (adds fit_one_cycle to Learner)
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from torch import nn
from torch.nn import functional as F

from tlcourse.assets.speech_models import load_speech_model, load_speech_model_torch, speech_tokenizer
from tlcourse.audio_data import SAMPLE_RATE, Clips, load_clips
from tlcourse.errors import DataError
from tlcourse.feature_cache import cached, module_checksum
from tlcourse.profiles import active_profile, detect_device, seed_everything
from tlcourse.speech import DOMAINS, digit_words, normalise, transcribe

WINDOW_SECONDS = 2.0  # the encoder's input window here; Whisper's own is 30 s (see the lesson for the cost)
IGNORE = -100  # target of the prompt and padding positions: no loss there
NOT_TUNED, TUNED_ON_US, TUNED_ON_WELSH = "not tuned", "tuned on US English (control)", "tuned on Welsh"
TUNED_ON_BOTH = "tuned on Welsh and US English"
TUNING_SETS = {TUNED_ON_US: ("us",), TUNED_ON_WELSH: ("welsh",), TUNED_ON_BOTH: ("welsh", "us")}


@dataclass(frozen=True)
class TuningPlan:
    """How much fine-tuning in one profile."""

    steps: int  # batches of fine-tuning (one one-cycle schedule), whatever the number of clips
    seeds: int
    lr: float
    batch_size: int
    clips_per_digit: int  # training clips per digit of each tuning domain, a seeded sample (12: all of them)


PLANS = {"smoke": TuningPlan(steps=14, seeds=2, lr=3e-4, batch_size=16, clips_per_digit=12),
         "cpu": TuningPlan(steps=21, seeds=3, lr=3e-4, batch_size=16, clips_per_digit=12),
         "full": TuningPlan(steps=21, seeds=5, lr=3e-4, batch_size=16, clips_per_digit=12)}


def plan_for(profile: str | None = None) -> TuningPlan:
    """The plan of `profile` (default: the active profile)."""
    return PLANS[profile or active_profile().name]


def _window_samples(model) -> int:
    if not hasattr(model, "config") or not hasattr(model.config, "max_source_positions"):
        raise DataError("This needs a PyTorch Whisper from tlcourse.assets.speech_models.load_speech_model_torch.")
    return model.config.max_source_positions * 2 * 160  # two mel frames per position, 160 samples per frame


@torch.no_grad()
def encode(model, audio: list[np.ndarray]) -> torch.Tensor:
    """The encoder's output for each clip (clips x frames x width), each clip padded with silence to the model's
    window (as OpenAI's Whisper pads; faster-whisper pads the spectrogram instead). Not cached."""
    from faster_whisper.feature_extractor import FeatureExtractor
    window = _window_samples(model)
    if not len(audio):
        raise DataError("No clips to encode: load some clips first.")
    for clip in audio:
        if len(clip) > window:
            raise DataError(f"A clip lasts {len(clip) / SAMPLE_RATE:.1f} s, longer than the model's "
                            f"{window / SAMPLE_RATE:.0f} s window: load the model with a longer window_seconds.")
    mel = FeatureExtractor(feature_size=model.config.num_mel_bins)
    encoder = model.model.encoder.eval()
    return torch.stack([encoder(torch.from_numpy(mel(np.pad(clip, (0, window - len(clip))))[None, :, :-1])
                                ).last_hidden_state[0] for clip in audio])


def encoder_states(model, clips: Clips) -> torch.Tensor:
    """`encode`, cached on disk: keyed by the encoder's weights, the window, the clips' samples and the versions
    of the libraries that compute them."""
    import faster_whisper
    import transformers
    window = _window_samples(model)
    digest = hashlib.sha256()
    for audio in clips.audio:
        digest.update(len(audio).to_bytes(8, "little") + audio.tobytes())
    key = {"kind": "whisper encoder states", "encoder": module_checksum(model.model.encoder), "window": window,
           "clips": digest.hexdigest(), "transformers": transformers.__version__,
           "faster_whisper": faster_whisper.__version__}
    return cached(key, lambda: {"states": encode(model, clips.audio)})["states"]


def per_digit_sample(labels: list[str], per_digit: int, seed: int) -> list[int]:
    """Indices of a seeded sample of `per_digit` clips of each digit (all of a digit's clips when it has fewer)."""
    if per_digit < 1:
        raise DataError(f"clips_per_digit must be at least 1, not {per_digit}.")
    rng = random.Random(seed)
    return sorted(i for label in sorted(set(labels)) for i in rng.sample(
        [j for j, y in enumerate(labels) if y == label], min(per_digit, labels.count(label))))


def _prompt(tokenizer) -> list[int]:
    return [*tokenizer.sot_sequence, tokenizer.no_timestamps]


def token_batches(tokenizer, words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder inputs (prompt, then the word's tokens) and targets (the next token; IGNORE on the prompt and the
    padding), one row per word."""
    sequences = [_prompt(tokenizer) + tokenizer.encode(" " + word) + [tokenizer.eot] for word in words]
    length = max(map(len, sequences))
    inputs = torch.full((len(words), length - 1), tokenizer.eot)
    targets = torch.full((len(words), length - 1), IGNORE)
    start = len(_prompt(tokenizer)) - 1
    for row, sequence in enumerate(sequences):
        inputs[row, :len(sequence) - 1] = torch.tensor(sequence[:-1])
        targets[row, start:len(sequence) - 1] = torch.tensor(sequence[start + 1:])
    return inputs, targets


class DecoderOnStates(nn.Module):
    """Whisper's decoder reading cached encoder states: (states, token inputs) -> next-token logits."""

    def __init__(self, whisper):
        super().__init__()
        self.decoder = whisper.model.decoder

    def forward(self, states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.decoder(input_ids=tokens, encoder_hidden_states=states).last_hidden_state
        return F.linear(hidden, self.decoder.embed_tokens.weight)  # the output layer is the tied embedding


def freeze_all_but_decoder_layers(whisper) -> int:
    """Freeze the encoder and the token and position embeddings (and so the tied output layer); the decoder's
    layers and final norm stay trainable. Returns the number of trainable weights."""
    for parameter in whisper.parameters():
        parameter.requires_grad_(False)
    decoder = whisper.model.decoder
    for module in (decoder.layers, decoder.layer_norm):
        module.requires_grad_(True)
    return sum(p.numel() for p in whisper.parameters() if p.requires_grad)


@torch.no_grad()
def greedy_transcripts(whisper, tokenizer, states: torch.Tensor, max_tokens: int = 8) -> list[str]:
    """Greedy transcripts of clips from their encoder states, with the tokens faster-whisper suppresses
    suppressed (timestamps, non-speech symbols; a blank or the end as the first token), so that the
    untuned model writes what the CTranslate2 model writes."""
    from faster_whisper.transcribe import get_suppressed_tokens
    decoder = DecoderOnStates(whisper).eval()
    banned = torch.tensor(get_suppressed_tokens(tokenizer, [-1]) + (*range(tokenizer.timestamp_begin,
                                                                          whisper.config.vocab_size),))
    tokens = torch.tensor([_prompt(tokenizer)] * len(states))
    done = torch.zeros(len(states), dtype=torch.bool)
    for step in range(max_tokens):
        logits = decoder(states, tokens)[:, -1]
        logits[:, banned] = -torch.inf
        if step == 0:
            logits[:, [tokenizer.encode(" ")[0], tokenizer.eot]] = -torch.inf
        chosen = torch.where(done, tokenizer.eot, logits.argmax(-1))
        tokens = torch.cat([tokens, chosen[:, None]], dim=1)
        done |= chosen == tokenizer.eot
        if done.all():
            break
    start = len(_prompt(tokenizer))
    return [tokenizer.decode([t for t in row[start:].tolist() if t != tokenizer.eot]).strip() for row in tokens]


def original_and_converted(clips: Clips, speech_model: str = "whisper-tiny.en") -> pd.DataFrame:
    """Each clip's greedy transcript by the original CTranslate2 model (faster-whisper, float32) and by its PyTorch
    conversion (30 s window, as Whisper), side by side."""
    original = load_speech_model(speech_model, device="cpu", compute_type="float32")
    converted = load_speech_model_torch(speech_model)
    ours = greedy_transcripts(converted, speech_tokenizer(speech_model), encoder_states(converted, clips),
                              max_tokens=100)
    return pd.DataFrame({"said": clips.labels, "CTranslate2 (original)": [transcribe(original, a) for a in clips.audio],
                         "PyTorch (converted)": ours})


def digit_accuracy(transcripts: list[str], labels: list[str], domain: str) -> float:
    """Share of clips whose transcript is exactly the digit said (its word in the domain's language, or its
    numeral)."""
    words = digit_words(domain)
    return float(np.mean([normalise(t, words) == words[int(y)] for t, y in zip(transcripts, labels)]))


def tune_decoder(whisper, tokenizer, states: torch.Tensor, words: list[str], plan: TuningPlan,
                 seed: int, device: str | None = None) -> float:
    """Fine-tune the decoder's layers in place on (encoder states, word said) pairs: `plan.steps` shuffled
    batches (the clips repeat as often as that takes) under fastai's one-cycle schedule. Returns the seconds."""
    if not len(states) or len(states) != len(words):
        raise DataError(f"{len(states)} clips and {len(words)} words: give one word per clip, at least one clip.")
    freeze_all_but_decoder_layers(whisper)
    inputs, targets = token_batches(tokenizer, words)
    items = list(zip(states, inputs, targets))
    repeated = items * math.ceil(plan.steps * plan.batch_size / len(items))
    random.Random(seed).shuffle(repeated)
    dls = DataLoaders(DataLoader(repeated[:plan.steps * plan.batch_size], bs=plan.batch_size, shuffle=True),
                      # fastai validates once per epoch and needs a set for it; nothing is chosen by its loss
                      DataLoader(items[:plan.batch_size], bs=plan.batch_size),
                      device=device or detect_device())
    seed_everything(seed, dls)
    learn = Learner(dls, DecoderOnStates(whisper), loss_func=CrossEntropyLossFlat(ignore_index=IGNORE), wd=0.01)
    started = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, plan.lr)
    whisper.to("cpu").eval()
    return time.perf_counter() - started


@dataclass
class WindowCost:
    """Seconds to encode one clip and to take one tuning step, per input window (the fastest of a few tries)."""

    rows: list[dict]  # window, encode one clip (s), one tuning step (s)

    def table(self) -> pd.DataFrame:
        """One row per window."""
        return pd.DataFrame(self.rows).set_index("window (s)").round(3)

    def ratio(self, column: str) -> float:
        """The longest window's seconds over the shortest's."""
        values = self.table()[column]
        return float(values.iloc[-1] / values.iloc[0])


def window_costs(clips: Clips, windows: tuple = (WINDOW_SECONDS, 30.0), tries: int = 2,
                 speech_model: str = "whisper-tiny.en") -> WindowCost:
    """Time the encoder on one clip and one decoder tuning step (a batch of the plan's size) with each input
    window; each the fastest of `tries`, the windows interleaved."""
    plan = plan_for()
    tokenizer = speech_tokenizer(speech_model)
    models = {window: load_speech_model_torch(speech_model, window) for window in windows}
    timings = {window: {"encode one clip (s)": [], "one tuning step (s)": []} for window in windows}
    inputs, targets = token_batches(tokenizer, [digit_words(clips.domain)[int(y)] for y in clips.labels[:1]])
    for _ in range(tries):
        for window, whisper in models.items():
            started = time.perf_counter()
            states = encode(whisper, clips.audio[:1])
            timings[window]["encode one clip (s)"].append(time.perf_counter() - started)
            freeze_all_but_decoder_layers(whisper)
            decoder = DecoderOnStates(whisper)
            batch = plan.batch_size
            started = time.perf_counter()
            logits = decoder(states.expand(batch, -1, -1), inputs.expand(batch, -1))
            F.cross_entropy(logits.flatten(0, 1), targets.expand(batch, -1).flatten(), ignore_index=IGNORE).backward()
            timings[window]["one tuning step (s)"].append(time.perf_counter() - started)
            decoder.zero_grad()
    return WindowCost([{"window (s)": window, **{name: min(values) for name, values in timing.items()}}
                       for window, timing in timings.items()])


@dataclass
class TuningRun:
    """One model scored on one domain's held-out voices."""

    model: str  # NOT_TUNED, or a key of the tuning sets
    domain: str
    seed: int
    accuracy: float
    seconds: float  # of fine-tuning
    examples: list  # (digit said, transcript) of the first clips


@dataclass
class TuningStudy:
    """Single-digit accuracy on held-out voices before and after fine-tuning the decoder on each tuning set
    (Welsh; US English, the control; both)."""

    runs: list[TuningRun]
    trainable: int  # weights fine-tuned
    total: int  # weights in the model
    window_seconds: float  # the encoder's input window
    steps: int  # tuning steps per model

    def table(self) -> pd.DataFrame:
        """Mean accuracy per model (rows) and held-out domain (columns)."""
        frame = pd.DataFrame([vars(r) for r in self.runs])
        return frame.pivot_table(index="model", columns="domain", values="accuracy", aggfunc="mean",
                                 sort=False).rename_axis(columns="digits right on held-out voices").round(3)

    def accuracies(self, model: str, domain: str) -> list[float]:
        """One accuracy per seed."""
        return [r.accuracy for r in self.runs if (r.model, r.domain) == (model, domain)]

    def accuracy(self, model: str, domain: str) -> float:
        """Mean over seeds."""
        return float(np.mean(self.accuracies(model, domain)))

    def seconds_per_step(self) -> float:
        """Mean seconds of one tuning step (fastai's epoch overhead included)."""
        return float(np.mean([r.seconds for r in self.runs if r.model != NOT_TUNED])) / self.steps

    def examples(self, domain: str) -> pd.DataFrame:
        """What each model (its first seed) wrote for the first held-out clips of `domain`."""
        columns = {}
        for run in self.runs:
            if run.domain == domain and run.model not in columns:
                columns.setdefault("said", [said for said, _ in run.examples])
                columns[run.model] = [transcript for _, transcript in run.examples]
        return pd.DataFrame(columns)


def tuning_study(plan: TuningPlan | None = None, domains: tuple = ("welsh", "us"), seed: int | None = None,
                 tuning_sets: dict | None = None, window_seconds: float = WINDOW_SECONDS,
                 speech_model: str = "whisper-tiny.en") -> TuningStudy:
    """Score the converted model (input window `window_seconds`) on each domain's held-out voices; then, per
    seed, fine-tune its decoder afresh on each tuning set (name -> training domains; default TUNING_SETS), with
    `plan.clips_per_digit` seeded clips per digit of each domain, and score it on every domain."""
    plan = plan or plan_for()
    seed = active_profile().seeds[0] if seed is None else seed
    tuning_sets = tuning_sets or TUNING_SETS
    whisper = load_speech_model_torch(speech_model, window_seconds)
    tokenizer = speech_tokenizer(speech_model)
    original = {name: p.detach().clone() for name, p in whisper.model.decoder.state_dict().items()}
    held_out = {domain: load_clips(domain, "valid") for domain in domains}
    held_out_states = {domain: encoder_states(whisper, clips) for domain, clips in held_out.items()}
    train = {domain: load_clips(domain, "train") for sets in tuning_sets.values() for domain in sets}
    train_states = {domain: encoder_states(whisper, clips) for domain, clips in train.items()}

    def scored(model: str, run_seed: int, seconds: float) -> list[TuningRun]:
        runs = []
        for domain, clips in held_out.items():
            transcripts = greedy_transcripts(whisper, tokenizer, held_out_states[domain])
            said = [digit_words(domain)[int(y)] for y in clips.labels]
            runs.append(TuningRun(model, domain, run_seed, digit_accuracy(transcripts, clips.labels, domain),
                                  seconds, list(zip(said, transcripts))[:10]))
        return runs
    runs = scored(NOT_TUNED, seed, 0.0)
    trainable = freeze_all_but_decoder_layers(whisper)
    for s in range(plan.seeds):
        run_seed = seed + 100 * s
        for model, tuning_domains in tuning_sets.items():
            whisper.model.decoder.load_state_dict(original)
            states, words = [], []
            for domain in tuning_domains:
                chosen = per_digit_sample(train[domain].labels, plan.clips_per_digit, run_seed)
                states.append(train_states[domain][chosen])
                words += [digit_words(domain)[int(train[domain].labels[i])] for i in chosen]
            seconds = tune_decoder(whisper, tokenizer, torch.cat(states), words, plan, run_seed)
            runs += scored(model, run_seed, seconds)
            print(f"{model}, seed {run_seed}: " + ", ".join(
                f"{DOMAINS[r.domain]} {r.accuracy:.2f}" for r in runs[-len(held_out):]) + f" ({seconds:.0f} s)")
    whisper.model.decoder.load_state_dict(original)
    return TuningStudy(runs, trainable, sum(p.numel() for p in whisper.parameters()), window_seconds, plan.steps)
