"""Lesson 16: a pretrained speech model meets other accents and a less-spoken language.

Whisper tiny.en (from the speech-model registry) learnt English from the 438,000 hours of English speech among
Whisper's 680,000 hours of web audio. Two measurements on spoken digits in five domains (US, Scottish, Caribbean
and West Midlands English, and Welsh): how its transcriptions degrade away from the accents it heard most, and how
far a digit classifier on its frozen encoder, trained on US voices, carries to the other voices, and how a few
labelled clips of a new language bring it back, against the same classifier on log-mel statistics (no model).
The clips are synthetic voices (espeak-ng), not recordings of people.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tlcourse.assets.prepare import SPOKEN_DIGIT_WORDS
from tlcourse.assets.speech_models import get_speech_model_spec
from tlcourse.audio_data import SAMPLE_RATE, Clips, check_clip, load_clips, load_read_speech
from tlcourse.errors import DataError
from tlcourse.feature_cache import cached
from tlcourse.profiles import active_profile

DOMAINS = {"us": "US English", "scotland": "Scottish English", "caribbean": "Caribbean English",
           "west_midlands": "West Midlands English", "welsh": "Welsh"}
ENCODER, LOG_MEL = "Whisper encoder", "log-mel statistics (no model)"
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
         "full": SpeechPlan(shots=(1, 2, 4, 8), seeds=10, word_speeds=(140, 180))}


def plan_for(profile: str | None = None) -> SpeechPlan:
    """The plan of `profile` (default: the active profile)."""
    return PLANS[profile or active_profile().name]


def digit_words(domain: str) -> tuple[str, ...]:
    """The words for 0-9 in the domain's language."""
    return SPOKEN_DIGIT_WORDS["cy" if domain == "welsh" else "en"]


def digit_strings(domain: str, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """One spoken string per held-out voice and speed of the domain: its ten digit clips in a seeded order, with
    short pauses, and the words said (in the domain's language)."""
    clips = load_clips(domain, "valid")
    by_voice: dict[str, list[tuple[np.ndarray, str]]] = {}
    for audio, label, file in zip(clips.audio, clips.labels, clips.files):
        by_voice.setdefault(file.split("/")[1].rsplit("_", 1)[0], []).append((audio, label))
    pause = np.zeros(int(PAUSE_SECONDS * SAMPLE_RATE), np.float32)
    strings = []
    for voice in sorted(by_voice):
        said = by_voice[voice][:]
        random.Random(f"{seed}/{voice}").shuffle(said)
        strings.append((np.concatenate([part for audio, _ in said for part in (audio, pause)]),
                        " ".join(digit_words(domain)[int(label)] for _, label in said)))
    return strings


def normalise(text: str, words: tuple[str, ...] = SPOKEN_DIGIT_WORDS["en"]) -> str:
    """Lower case, numerals spelt out one digit at a time in `words` ("30" -> "three zero"), punctuation dropped."""
    text = re.sub(r"\d", lambda digit: f" {words[int(digit.group())]} ", text.lower())
    return " ".join(re.sub(r"[^a-z' ]", " ", text).split())


def transcribe(model, audio: np.ndarray, language: str = "en") -> str:
    """Whisper's greedy transcript of one 16 kHz clip in `language` (a Whisper language code; no sampling
    fallback, so runs repeat exactly)."""
    if language != "en" and model.hf_tokenizer.token_to_id(f"<|{language}|>") is None:  # a token per language
        raise DataError(f"{language!r} is not a language code Whisper knows: use a two- or three-letter code such "
                        "as 'en', 'cy' (Welsh) or 'haw' (Hawaiian).")
    if language != "en" and language not in model.supported_languages:
        raise DataError(f"This model transcribes English only, so language={language!r} cannot be used: leave it "
                        "as 'en', or load a multilingual Whisper model.")
    segments, _ = model.transcribe(check_clip(audio, SAMPLE_RATE), language=language, beam_size=1, temperature=0.0,
                                   without_timestamps=True, condition_on_previous_text=False)
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
        """Word error rate of one domain."""
        table = self.table()
        return float(table.loc[domain, "word error rate"])

    def examples(self, n: int = 1, width: int = 90) -> pd.DataFrame:
        """The first `n` strings of each domain: what was said, what the model wrote (cut at `width` characters)."""
        frame = pd.DataFrame(self.rows).groupby("domain", sort=False).head(n)[["domain", "reference", "transcript"]]
        frame["transcript"] = [t if len(t) <= width else t[:width] + " ..." for t in frame["transcript"]]
        return frame


def _word_errors(domain: str, reference: str, transcript: str, words: tuple[str, ...]) -> dict:
    """One Transcripts row: substitutions, deletions and insertions against `reference` (jiwer)."""
    import jiwer
    measures = jiwer.process_words(reference, normalise(transcript, words) or "<nothing>")
    return {"domain": domain, "reference": reference, "transcript": transcript,
            "errors": measures.substitutions + measures.deletions + measures.insertions,
            "words": len(reference.split())}


def transcription_errors(model, domains: tuple = tuple(DOMAINS), seed: int | None = None) -> Transcripts:
    """Transcribe every held-out digit string of each domain (digit order: `seed`, default the profile's) and
    count word errors against the words said in the domain's language (jiwer)."""
    seed = active_profile().seeds[0] if seed is None else seed
    return Transcripts([_word_errors(domain, reference, transcribe(model, audio), digit_words(domain))
                        for domain in domains for audio, reference in digit_strings(domain, seed)])


def read_speech_errors(model) -> Transcripts:
    """The check on real speech: transcribe the read_speech recordings and count word errors (jiwer)."""
    clips = load_read_speech()
    return Transcripts([_word_errors("read_speech", reference, transcribe(model, audio), SPOKEN_DIGIT_WORDS["en"])
                        for audio, reference in zip(clips.audio, clips.labels)])


@dataclass
class Words:
    """One model's transcripts of single spoken digits, per domain."""

    rows: list[dict]  # domain, said, transcript, correct

    def table(self) -> pd.DataFrame:
        """Share of digits transcribed exactly (as the word or the numeral), per domain."""
        frame = pd.DataFrame(self.rows).groupby("domain", sort=False)["correct"].agg(["mean", "count"])
        return frame.rename(columns={"mean": "digits right", "count": "clips"}).round(3)

    def accuracy(self, domain: str) -> float:
        """Share of one domain's digits transcribed right."""
        return float(self.table().loc[domain, "digits right"])

    def examples(self, domain: str, n: int = 10) -> pd.DataFrame:
        """The first `n` clips of a domain: the word said, the transcript, right or not."""
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
                said = digit_words(domain)[int(label)]
                rows.append({"domain": domain, "said": said, "transcript": transcript,
                             "correct": normalise(transcript, digit_words(domain)) == said})
    return Words(rows)


def encoder_vectors(model, clips: Clips) -> np.ndarray:
    """One vector per clip: the frozen encoder's frames, averaged over the clip's own length (each clip padded
    with silence to WINDOW_SECONDS first, not to Whisper's 30 s: 15 times less work, measured). Cached on disk."""
    import ctranslate2
    if not len(clips):
        raise DataError("No clips to encode: load some clips first.")
    name = getattr(model, "registry_name", None)
    if name is None:
        raise DataError("encoder_vectors needs a model from tlcourse.assets.speech_models.load_speech_model.")
    digest = hashlib.sha256()
    for audio in clips.audio:
        digest.update(len(audio).to_bytes(8, "little") + audio.tobytes())
    key = {"kind": "speech encoder vectors", "model": dict(get_speech_model_spec(name).files)["model.bin"],
           "device": model.model.device, "compute": model.model.compute_type, "ctranslate2": ctranslate2.__version__,
           "window": WINDOW_SECONDS, "frame": SAMPLES_PER_FRAME, "clips": digest.hexdigest()}

    def compute() -> dict:
        window = int(WINDOW_SECONDS * SAMPLE_RATE)
        vectors = []
        for audio in clips.audio:
            if len(audio) > window:
                raise DataError(f"A clip lasts {len(audio) / SAMPLE_RATE:.1f} s, longer than the "
                                f"{WINDOW_SECONDS:.0f} s window: raise speech.WINDOW_SECONDS.")
            features = model.feature_extractor(np.pad(audio, (0, window - len(audio))))[None, :, :-1]
            frames = np.array(model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features))))
            vectors.append(frames[0, :math.ceil(len(audio) / SAMPLES_PER_FRAME)].mean(axis=0))
        return {"vectors": torch.tensor(np.stack(vectors))}
    return cached(key, compute)["vectors"].numpy()


def log_mel_vectors(model, clips: Clips) -> np.ndarray:
    """The control: one vector per clip with no model at all, each log-mel band's mean and spread over the clip."""
    vectors = []
    for audio in clips.audio:
        bands = model.feature_extractor(audio)[:, :-1]
        vectors.append(np.concatenate([bands.mean(axis=1), bands.std(axis=1)]))
    return np.stack(vectors)


def _classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


@dataclass
class FewShotRun:
    """One classifier scored on one domain's held-out voices."""

    features: str  # ENCODER or LOG_MEL
    domain: str
    shots: int  # labelled clips per digit of the domain added to the US ones (0: US clips only)
    seed: int
    accuracy: float


@dataclass
class FewShotStudy:
    """Digit accuracy of classifiers trained on US voices, on the frozen encoder's vectors and on the log-mel
    control: tested on held-out voices of every domain, then with a few labelled clips of each new domain added."""

    runs: list[FewShotRun]

    def table(self) -> pd.DataFrame:
        """Mean accuracy per features and domain, a column per number of added clips per digit."""
        frame = pd.DataFrame([vars(r) for r in self.runs])
        return frame.pivot_table(index=["features", "domain"], columns="shots", values="accuracy", aggfunc="mean",
                                 sort=False).rename_axis(columns="clips per digit").round(3)

    def accuracies(self, domain: str, shots: int, features: str = ENCODER) -> list[float]:
        """One accuracy per seed (one in all with 0 shots: the US-trained classifier is not sampled)."""
        return [r.accuracy for r in self.runs if (r.features, r.domain, r.shots) == (features, domain, shots)]

    def accuracy(self, domain: str, shots: int, features: str = ENCODER) -> float:
        """Mean over seeds."""
        return float(np.mean(self.accuracies(domain, shots, features)))


def few_shot_study(model, plan: SpeechPlan | None = None, targets: tuple = ("welsh",),
                   seed: int | None = None) -> FewShotStudy:
    """Train on US voices' vectors (frozen encoder, and the log-mel control); score every domain's held-out
    voices; then add `shots` clips per digit of each target domain (seeded samples of its training voices) and
    score it again."""
    plan = plan or plan_for()
    seed = active_profile().seeds[0] if seed is None else seed
    us = load_clips("us", "train")
    held_out = {domain: load_clips(domain, "valid") for domain in DOMAINS}
    target_train = {domain: load_clips(domain, "train") for domain in targets}
    available = min(min(train.labels.count(label) for label in set(train.labels)) for train in target_train.values())
    if max(plan.shots) > available:
        raise DataError(f"A target domain has only {available} training clips per digit: keep shots <= {available}.")
    runs = []
    for features, vectors in ((ENCODER, encoder_vectors), (LOG_MEL, log_mel_vectors)):
        us_vectors = vectors(model, us)
        held_out_vectors = {domain: vectors(model, clips) for domain, clips in held_out.items()}
        classifier = _classifier().fit(us_vectors, us.labels)
        runs += [FewShotRun(features, domain, 0, 0, float(classifier.score(held_out_vectors[domain], clips.labels)))
                 for domain, clips in held_out.items()]
        for domain, train in target_train.items():
            train_vectors = vectors(model, train)
            for shots in plan.shots:
                for s in range(plan.seeds):
                    rng = random.Random(f"{seed}/{s}")
                    chosen = [i for label in sorted(set(train.labels)) for i in
                              rng.sample([j for j, y in enumerate(train.labels) if y == label], shots)]
                    fitted = _classifier().fit(np.concatenate([us_vectors, train_vectors[chosen]]),
                                               us.labels + [train.labels[i] for i in chosen])
                    runs.append(FewShotRun(features, domain, shots, s, float(
                        fitted.score(held_out_vectors[domain], held_out[domain].labels))))
    return FewShotStudy(runs)
