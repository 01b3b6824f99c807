"""Audio clips for the speech lessons: WAV files in, 16 kHz mono float arrays out, with the checks a speech model
needs (one channel, its sample rate, sound in it, not longer than its window)."""

from __future__ import annotations

import csv
import random
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlcourse.assets.datasets import get_dataset_spec, manifest_path
from tlcourse.data import dataset_path
from tlcourse.errors import DataError

SAMPLE_RATE = 16_000  # what Whisper and most speech models take
MAX_SECONDS = 30.0  # Whisper's window: longer audio must be cut into pieces first
SILENCE = 1e-3  # a clip whose loudest sample is below this (full scale 1.0) holds no speech


def read_clip(path: str | Path) -> np.ndarray:
    """A PCM WAV file as 16 kHz mono float32 in [-1, 1]: channels averaged, other sample rates resampled."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No audio file {path}: pass the path of a .wav file.")
    try:
        with wave.open(str(path)) as clip:
            rate, channels, width = clip.getframerate(), clip.getnchannels(), clip.getsampwidth()
            frames = clip.readframes(clip.getnframes())
    except (wave.Error, EOFError) as error:
        raise DataError(f"{path} is not a PCM WAV file ({error}): convert it, e.g. "
                        f"`ffmpeg -i {path.name} -ac 1 -ar 16000 clip.wav`.") from None
    if width not in (1, 2, 4):
        raise DataError(f"{path} has {8 * width}-bit samples: convert it to 16-bit PCM WAV.")
    dtype, scale, offset = {1: (np.uint8, 128.0, 128.0), 2: (np.int16, 32768.0, 0.0),
                            4: (np.int32, 2147483648.0, 0.0)}[width]
    audio = (np.frombuffer(frames, dtype).astype(np.float32) - offset) / scale
    return check_clip(audio.reshape(-1, channels).mean(axis=1), rate, name=str(path))


def check_clip(audio: np.ndarray, rate: int, name: str = "the clip") -> np.ndarray:
    """`audio` (mono, or samples x channels) at 16 kHz, checked: error for silence, a clip longer than
    MAX_SECONDS, or no samples."""
    from scipy.signal import resample_poly
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2 and audio.shape[1] > 8:
        raise DataError(f"{name} has shape {audio.shape}: pass samples x channels (transpose it), or one channel.")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size == 0:
        raise DataError(f"{name} has no samples.")
    if rate != SAMPLE_RATE:
        divisor = np.gcd(rate, SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // divisor, rate // divisor).astype(np.float32)
    if len(audio) > MAX_SECONDS * SAMPLE_RATE:
        raise DataError(f"{name} lasts {len(audio) / SAMPLE_RATE:.0f} s, longer than the model's "
                        f"{MAX_SECONDS:.0f} s window: cut it into pieces first.")
    if np.abs(audio).max() < SILENCE:
        raise DataError(f"{name} is silent (loudest sample {np.abs(audio).max():.1e}): record it again.")
    return audio


@dataclass
class Clips:
    """Clips of one domain with their labels."""

    domain: str
    audio: list[np.ndarray]
    labels: list[str]
    files: list[str]

    def __len__(self) -> int:
        return len(self.audio)


def load_clips(domain: str, split: str = "train", dataset: str = "spoken_digits", per_class: int | None = None,
               seed: int = 0) -> Clips:
    """The clips of one domain ("us", "scotland", ...) and split ("train" or "valid"); `per_class` keeps a seeded
    sample of that many clips of each label."""
    spec = get_dataset_spec(dataset)
    if spec.modality != "audio":
        raise DataError(f"{dataset} holds {spec.modality}, not audio; audio data sets: spoken_digits.")
    if domain not in spec.domains:
        raise DataError(f"{dataset} has no domain {domain!r}: choose one of {', '.join(spec.domains)}.")
    if split not in ("train", "valid"):
        raise DataError(f"split must be 'train' or 'valid', not {split!r}.")
    folder = dataset_path(dataset)
    with open(manifest_path(dataset), newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["file"].startswith(f"{domain}/") and r["split"] == split]
    if per_class is not None:
        by_label: dict[str, list[dict]] = {}
        for row in rows:
            by_label.setdefault(row["class"], []).append(row)
        rng = random.Random(seed)
        rows = [row for label in sorted(by_label) for row in rng.sample(by_label[label],
                                                                       min(per_class, len(by_label[label])))]
    return Clips(domain, [read_clip(folder / r["file"]) for r in rows], [r["class"] for r in rows],
                 [r["file"] for r in rows])


def load_read_speech() -> Clips:
    """The real recordings of the read_speech data set, each labelled with its transcript (lower case, no
    punctuation, as the package writes it)."""
    folder = dataset_path("read_speech")
    said = {}
    for line in (folder / "transcription").read_text().splitlines():
        found = re.match(r"<s> (.*) </s> \((.*)\)", line.strip())
        if found:
            said[found.group(2)] = found.group(1)
    files = sorted(said)
    return Clips("read_speech", [read_clip(folder / f"{name}.wav") for name in files], [said[n] for n in files],
                 [f"{name}.wav" for name in files])
