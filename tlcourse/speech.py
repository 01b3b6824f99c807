"""Lesson 16: a pretrained speech model meets other accents and a less-spoken language.

Whisper tiny.en (from the speech-model registry) learnt English from 680,000 hours of web audio. Two
measurements on spoken digits in five domains (US, Scottish, Caribbean and West Midlands English, and Welsh):
how its transcriptions degrade away from the accents it heard most, and how far a digit classifier on its frozen
encoder, trained on US voices, carries to the other voices, and how a few labelled clips of a new language
bring it back. The clips are synthetic voices (espeak-ng), not recordings of people.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tlcourse.assets.prepare import SPOKEN_DIGIT_WORDS
from tlcourse.assets.speech_models import get_speech_model_spec
from tlcourse.audio_data import SAMPLE_RATE, Clips, load_clips
from tlcourse.errors import DataError
from tlcourse.feature_cache import cached
from tlcourse.profiles import active_profile

DOMAINS = {"us": "US English", "scotland": "Scottish English", "caribbean": "Caribbean English",
           "west_midlands": "West Midlands English", "welsh": "Welsh"}
DIGIT_WORDS = SPOKEN_DIGIT_WORDS["en"]
PAUSE_SECONDS = 0.3  # between the digits of a spoken string
WINDOW_SECONDS = 2.0  # each clip is padded to this before the encoder (the longest clip lasts about 1.2 s)
SAMPLES_PER_FRAME = 320  # one encoder frame: 20 ms at 16 kHz


@dataclass(frozen=True)
class SpeechPlan:
    """How big the study is in one profile."""

    shots: tuple  # labelled clips per digit of the new domain added to the US training clips
    seeds: int
    word_speeds: tuple  # speaking speeds (words a minute) of the single digits transcribed


PLANS = {"smoke": SpeechPlan(shots=(1, 2, 4), seeds=3, word_speeds=(140,)),
         "cpu": SpeechPlan(shots=(1, 2, 4, 8), seeds=5, word_speeds=(140, 180)),
         "full": SpeechPlan(shots=(1, 2, 4, 8, 12), seeds=10, word_speeds=(140, 180))}


def plan_for(profile: str | None = None) -> SpeechPlan:
    """The plan of `profile` (default: the active profile)."""
    return PLANS[profile or active_profile().name]


def digit_strings(domain: str, split: str = "valid", seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """One spoken string per voice and speed of the domain: its ten digit clips in a seeded order, with short
    pauses, and the words said (English digit words, also for Welsh, as the reference a transcript should match)."""
    clips = load_clips(domain, split)
    by_voice: dict[str, list[tuple[np.ndarray, str]]] = {}
    for audio, label, file in zip(clips.audio, clips.labels, clips.files):
        by_voice.setdefault(file.split("/")[1].rsplit("_", 1)[0], []).append((audio, label))
    pause = np.zeros(int(PAUSE_SECONDS * SAMPLE_RATE), np.float32)
    strings = []
    for voice in sorted(by_voice):
        said = by_voice[voice][:]
        random.Random(f"{seed}/{voice}").shuffle(said)
        strings.append((np.concatenate([part for audio, _ in said for part in (audio, pause)]),
                        " ".join(DIGIT_WORDS[int(label)] for _, label in said)))
    return strings


def normalise(text: str) -> str:
    """Lower case, numerals spelt out one digit at a time ("30" -> "three zero"), punctuation dropped."""
    text = re.sub(r"\d", lambda digit: f" {DIGIT_WORDS[int(digit.group())]} ", text.lower())
    return " ".join(re.sub(r"[^a-z' ]", " ", text).split())


def transcribe(model, audio: np.ndarray) -> str:
    """Whisper's greedy English transcript of one clip (no sampling fallback, so runs repeat exactly)."""
    segments, _ = model.transcribe(audio, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
                                   condition_on_previous_text=False)
    return " ".join(segment.text.strip() for segment in segments)


@dataclass
class Transcripts:
    """Word error rates of one model's transcripts, per domain."""

    rows: list[dict]  # domain, reference, transcript, errors, words

    def table(self) -> pd.DataFrame:
        """Word error rate per domain (errors / words said, over all its strings)."""
        frame = pd.DataFrame(self.rows).groupby("domain", sort=False)[["errors", "words"]].sum()
        frame["word error rate"] = (frame["errors"] / frame["words"]).round(3)
        return frame

    def error_rate(self, domain: str) -> float:
        table = self.table()
        return float(table.loc[domain, "word error rate"])

    def examples(self, n: int = 1) -> pd.DataFrame:
        """The first `n` strings of each domain: what was said, what the model wrote."""
        frame = pd.DataFrame(self.rows)
        return frame.groupby("domain", sort=False).head(n)[["domain", "reference", "transcript"]]


def transcription_errors(model, domains: tuple = tuple(DOMAINS), seed: int = 0) -> Transcripts:
    """Transcribe every held-out digit string of each domain and count word errors (jiwer)."""
    import jiwer
    rows = []
    for domain in domains:
        for audio, reference in digit_strings(domain, "valid", seed):
            transcript = transcribe(model, audio)
            measures = jiwer.process_words(reference, normalise(transcript) or "<nothing>")
            rows.append({"domain": domain, "reference": reference, "transcript": transcript,
                         "errors": measures.substitutions + measures.deletions + measures.insertions,
                         "words": len(reference.split())})
    return Transcripts(rows)


@dataclass
class Words:
    """One model's transcripts of single spoken digits, per domain."""

    rows: list[dict]  # domain, said, transcript, correct

    def table(self) -> pd.DataFrame:
        """Share of digits transcribed exactly (as the word or the numeral), per domain."""
        frame = pd.DataFrame(self.rows).groupby("domain", sort=False)["correct"].agg(["mean", "count"])
        return frame.rename(columns={"mean": "digits right", "count": "clips"}).round(3)

    def accuracy(self, domain: str) -> float:
        return float(self.table().loc[domain, "digits right"])

    def examples(self, domain: str, n: int = 10) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows)
        return frame[frame.domain == domain].head(n)[["said", "transcript", "correct"]]


def single_words(model, domains: tuple = tuple(DOMAINS), speeds: tuple | None = None) -> Words:
    """Transcribe each held-out clip (one digit, no context) of each domain at the given speaking speeds
    (default: the profile's plan)."""
    speeds = speeds or plan_for().word_speeds
    rows = []
    for domain in domains:
        clips = load_clips(domain, "valid")
        for audio, label, file in zip(clips.audio, clips.labels, clips.files):
            if int(file.split("/")[1].split("_")[1]) in speeds:
                transcript = transcribe(model, audio)
                said = DIGIT_WORDS[int(label)]
                rows.append({"domain": domain, "said": said, "transcript": transcript,
                             "correct": normalise(transcript) == said})
    return Words(rows)


def encoder_vectors(model, clips: Clips, model_name: str = "whisper-tiny.en") -> np.ndarray:
    """One vector per clip: the frozen encoder's frames, averaged over the clip's own length (each clip padded
    with silence to WINDOW_SECONDS first, not to Whisper's 30 s: 15 times less work, measured). Cached on disk."""
    import ctranslate2
    if not len(clips):
        raise DataError("No clips to encode: load some clips first.")
    digest = hashlib.sha256()
    for audio in clips.audio:
        digest.update(audio.tobytes())
    key = {"kind": "speech encoder vectors", "model": dict(get_speech_model_spec(model_name).files)["model.bin"],
           "window": WINDOW_SECONDS, "clips": digest.hexdigest()}

    def compute() -> dict:
        window = int(WINDOW_SECONDS * SAMPLE_RATE)
        vectors = []
        for audio in clips.audio:
            if len(audio) > window:
                raise DataError(f"A clip lasts {len(audio) / SAMPLE_RATE:.1f} s, longer than the "
                                f"{WINDOW_SECONDS:.0f} s window: raise speech.WINDOW_SECONDS.")
            features = model.feature_extractor(np.pad(audio, (0, window - len(audio))))[None, :, :-1]
            frames = np.array(model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features))))
            vectors.append(frames[0, :max(1, len(audio) // SAMPLES_PER_FRAME)].mean(axis=0))
        return {"vectors": torch.tensor(np.stack(vectors))}
    return cached(key, compute)["vectors"].numpy()


def _classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


@dataclass
class FewShotStudy:
    """Digit accuracy of a classifier on the frozen encoder: trained on US voices, tested on held-out voices of
    every domain, then with a few labelled clips of each new domain added."""

    zero_shot: dict  # domain -> accuracy of the US-trained classifier on its held-out voices
    runs: list[dict]  # domain, shots (clips per digit), seed, accuracy

    def table(self) -> pd.DataFrame:
        """Mean accuracy per domain: 0 clips (US training only), then each number of added clips per digit."""
        frame = pd.DataFrame(self.runs).pivot_table(index="domain", columns="shots", values="accuracy",
                                                    aggfunc="mean", sort=False)
        frame = frame.reindex(list(self.zero_shot))
        frame.insert(0, 0, pd.Series(self.zero_shot))
        return frame.rename_axis(columns="clips per digit").round(3)

    def accuracy(self, domain: str, shots: int) -> float:
        """Mean over seeds (0 shots: the US-trained classifier)."""
        if shots == 0:
            return self.zero_shot[domain]
        return float(np.mean([r["accuracy"] for r in self.runs if r["domain"] == domain and r["shots"] == shots]))


def few_shot_study(model, plan: SpeechPlan | None = None, targets: tuple = ("welsh",),
                   seed: int | None = None) -> FewShotStudy:
    """Train on US voices' frozen-encoder vectors; score every domain's held-out voices; then add `shots` clips
    per digit of each target domain (seeded samples of its training voices) and score it again."""
    plan = plan or plan_for()
    seed = active_profile().seeds[0] if seed is None else seed
    us = load_clips("us", "train")
    us_vectors = encoder_vectors(model, us)
    held_out = {domain: load_clips(domain, "valid") for domain in DOMAINS}
    held_out_vectors = {domain: encoder_vectors(model, clips) for domain, clips in held_out.items()}
    classifier = _classifier().fit(us_vectors, us.labels)
    zero_shot = {domain: float(classifier.score(held_out_vectors[domain], clips.labels))
                 for domain, clips in held_out.items()}
    runs = []
    for domain in targets:
        train = load_clips(domain, "train")
        train_vectors = encoder_vectors(model, train)
        for shots in plan.shots:
            for s in range(plan.seeds):
                rng = random.Random(seed + 100 * s)
                chosen = [i for label in sorted(set(train.labels)) for i in
                          rng.sample([j for j, y in enumerate(train.labels) if y == label], shots)]
                fitted = _classifier().fit(np.concatenate([us_vectors, train_vectors[chosen]]),
                                           us.labels + [train.labels[i] for i in chosen])
                runs.append({"domain": domain, "shots": shots, "seed": s,
                             "accuracy": float(fitted.score(held_out_vectors[domain], held_out[domain].labels))})
    return FewShotStudy(zero_shot, runs)
