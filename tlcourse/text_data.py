"""Labelled sentences from the text data sets, one domain and split at a time, with checks; and fastai DataLoaders
of their token ids."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fastai.data.core import DataLoaders, Datasets
from fastai.data.transforms import Categorize, ItemGetter
from fastai.text.data import SortedDL, TensorText, pad_input
from fastai.torch_core import TitledStr
from fasttransform import Transform

from tlcourse.assets.datasets import get_dataset_spec
from tlcourse.data import dataset_path
from tlcourse.errors import DataError
from tlcourse.profiles import detect_device


@dataclass
class Sentences:
    """Texts and their labels (strings), from one domain and split."""

    domain: str
    texts: list[str]
    labels: list[str]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def label_ids(self) -> list[int]:
        return [self.classes.index(label) for label in self.labels]

    def __len__(self) -> int:
        return len(self.texts)


def load_sentences(domain: str, split: str = "train", dataset: str = "sentiment", limit: int | None = None,
                   seed: int = 0) -> Sentences:
    """Sentences of one domain ("amazon", "movies", "tweets", "nyt") and split ("train", "valid" or "all").

    `limit` keeps a seeded, class-balanced sample of at most that many. Empty lines are dropped;
    a result with fewer than two classes is an error (there is nothing to classify).
    """
    spec = get_dataset_spec(dataset)
    if spec.modality != "text":
        raise DataError(f"{dataset} holds {spec.modality}, not text; text data sets: sentiment, imdb, amazon_polarity, "
                        f"yelp_polarity.")
    if split not in ("train", "valid", "all"):
        raise DataError(f"split must be 'train', 'valid' or 'all', not {split!r}.")
    rows = _read(dataset, domain, split)
    rows = [(text.strip(), label) for text, label in rows if text and text.strip()]
    if limit is not None:
        rows = _balanced_sample(rows, limit, seed)
    sentences = Sentences(domain, [t for t, _ in rows], [label for _, label in rows])
    if len(sentences.classes) < 2:
        raise DataError(f"{dataset}/{domain} ({split}) has {len(sentences)} sentences in "
                        f"{len(sentences.classes)} class(es) {sentences.classes}: a classifier needs two or more. "
                        f"Raise `limit`, or pick another domain.")
    return sentences


def _read(dataset: str, domain: str, split: str) -> list[tuple[str, str]]:
    spec = get_dataset_spec(dataset)
    folder = dataset_path(dataset)
    if dataset == "sentiment":
        if domain not in spec.domains:
            raise DataError(f"sentiment has no domain {domain!r}: choose one of {', '.join(spec.domains)}.")
        with open(folder / f"{domain}.csv", newline="", encoding="utf-8") as handle:
            return [(r["text"], r["label"]) for r in csv.DictReader(handle) if split in (r["split"], "all")]
    parts = {"train": ["train"], "valid": ["test"], "all": ["train", "test"]}[split]
    if dataset == "imdb":  # folders train/pos, train/neg, test/...; one review per file
        return [(f.read_text(encoding="utf-8"), label) for part in parts for label in ("neg", "pos")
                for f in sorted((folder / part / label).glob("*.txt"))]
    return [row for part in parts for row in _read_polarity_csv(folder / f"{part}.csv")]


def _read_polarity_csv(path: Path) -> list[tuple[str, str]]:
    """Zhang et al.'s polarity CSVs: label (1 negative, 2 positive), then the text (title, body for Amazon)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [(" ".join(row[1:]), "positive" if row[0] == "2" else "negative") for row in csv.reader(handle)]


def _balanced_sample(rows: list[tuple[str, str]], limit: int, seed: int) -> list[tuple[str, str]]:
    by_label: dict[str, list] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    rng = random.Random(seed)
    per_class = max(1, limit // max(1, len(by_label)))
    sample = [r for label in sorted(by_label) for r in rng.sample(by_label[label], min(per_class, len(by_label[label])))]
    rng.shuffle(sample)
    return sample


class WordPieces(Transform):
    """A sentence -> the token ids the pretrained model's own tokenizer gives it (at most `max_tokens`;
    longer sentences are cut at the end, as the encoder does)."""

    def __init__(self, tokenizer, max_tokens: int = 64):
        super().__init__()
        self.tokenizer, self.max_tokens = tokenizer, max_tokens

    def encodes(self, text: str):
        return TensorText(self.tokenizer(text, truncation=True, max_length=self.max_tokens)["input_ids"])

    def decodes(self, ids):
        return TitledStr(self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True))


def text_dataloaders(train: Sentences, valid: Sentences, tokenizer, batch_size: int = 32, max_tokens: int = 64,
                     device: str | None = None) -> DataLoaders:
    """fastai DataLoaders of token ids and labels, as fastai's text block makes them: batches of sentences of
    similar length (`SortedDL`), padded with the tokenizer's padding id, so little time goes on padding."""
    if set(valid.classes) - set(train.classes):
        raise DataError(f"Validation labels {sorted(set(valid.classes) - set(train.classes))} never occur in the "
                        f"training sentences: sample the training set with more sentences per class.")
    items = list(zip(train.texts + valid.texts, train.labels + valid.labels))
    splits = [list(range(len(train))), list(range(len(train), len(items)))]
    datasets = Datasets(items, [[ItemGetter(0), WordPieces(tokenizer, max_tokens)], [ItemGetter(1), Categorize()]],
                        splits=splits)
    pad = partial(pad_input, pad_idx=tokenizer.pad_token_id)
    loaders = [SortedDL(subset, bs=size, shuffle=shuffle, before_batch=pad, res=[len(x) for x, _ in subset])
               for subset, size, shuffle in ((datasets.train, batch_size, True), (datasets.valid, 2 * batch_size, False))]
    return DataLoaders(*loaders, device=device or detect_device())


@dataclass
class MessagePairs:
    """Short messages in one language and their English originals (the translation data set)."""

    language: str
    texts: list[str]
    english: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def load_message_pairs(language: str, split: str = "train", max_words: int | None = None) -> MessagePairs:
    """(message, English original) pairs of one language ("es", "gl", ...) and split ("train" or "valid").

    `max_words` keeps messages of at most that many English words. Train and valid never share an English
    message (the data set is split by message).
    """
    spec = get_dataset_spec("translation")
    if language not in spec.domains:
        raise DataError(f"The translation data set has no language {language!r}: choose one of "
                        f"{', '.join(spec.domains)}.")
    if split not in ("train", "valid"):
        raise DataError(f"split must be 'train' or 'valid', not {split!r}.")
    with open(dataset_path("translation") / f"{language}.csv", newline="", encoding="utf-8") as handle:
        rows = [(r["text"].strip(), r["english"].strip()) for r in csv.DictReader(handle) if r["split"] == split]
    rows = [(text, english) for text, english in rows if text and english
            and (max_words is None or len(english.split()) <= max_words)]
    if not rows:
        fix = "run `make data` if the data set is empty."
        if max_words is not None:
            fix = f"with at most {max_words} English words: raise `max_words`, or {fix}"
        raise DataError(f"No {language} pairs in the {split} split {fix}")
    return MessagePairs(language, [t for t, _ in rows], [e for _, e in rows])


def aligned_pairs(sets: list[MessagePairs], size: int, seed: int = 0) -> dict[str, MessagePairs]:
    """The pairs of every language in `sets` for the same English messages (a seeded sample of at most `size`),
    so that languages can be shown or scored like with like."""
    tables = [dict(zip(pairs.english, pairs.texts)) for pairs in sets]
    common = sorted(set.intersection(*(set(table) for table in tables)))
    if not common:
        raise DataError(f"No message is translated into all of {[p.language for p in sets]}: use fewer languages "
                        f"at once.")
    chosen = sorted(random.Random(seed).sample(common, min(size, len(common))))
    return {pairs.language: MessagePairs(pairs.language, [table[e] for e in chosen], chosen)
            for pairs, table in zip(sets, tables)}


def same_messages(languages: tuple, max_words: int = 3, limit: int = 8, seed: int = 0):
    """A table of English training messages translated into every one of `languages` (a column each), a seeded
    sample of at most `limit`: what the same message looks like across related and unrelated languages."""
    import pandas as pd
    aligned = aligned_pairs([load_message_pairs(lang, "train", max_words=max_words) for lang in languages], limit,
                            seed)
    chosen = aligned[languages[0]].english
    return pd.DataFrame({"english": chosen, **{lang: aligned[lang].texts for lang in languages}})
