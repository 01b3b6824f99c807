"""Lesson 15: translation for a less-spoken language, by transfer from a parent model (Zoph et al. 2016).

No package ships translation weights that work offline, so the lesson makes its own parent: a small
encoder-decoder (GRUs with attention) learns to translate short software messages from five Romance languages
into English. Its weights then start a child for Galician (a close relative of Spanish and
Portuguese) or Basque (related to none of them) that sees only a few hundred pairs, against the same model
started from random weights and trained just as long. All languages share one subword vocabulary, learned from
every language's training messages. Scores are chrF and BLEU-2 (sacrebleu) on held-out messages.

Why GRUs and not a transformer from `transformers` (measured on a 2-core CPU): a 7.6 M-parameter Marian model took
1.4-1.9 s per batch of 32, where this model takes about 0.03 s, so the parent trains in about half a minute. Not
being a `transformers` model, it decodes with its own short greedy loop (`translate`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import random
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from fastai.callback import schedule  # noqa: F401  (adds fit_one_cycle to Learner)
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tlcourse.errors import DataError
from tlcourse.feature_cache import cached
from tlcourse.profiles import active_profile, detect_device, one_thread, seed_everything
from tlcourse.text_data import MessagePairs, aligned_pairs, load_message_pairs

PARENT_LANGUAGES = ("es", "ca", "it", "fr", "pt")
CHILDREN = {"gl": "Galician (related: close to Spanish and Portuguese)", "eu": "Basque (unrelated to all five)"}
PAD, END, UNKNOWN, START = "<pad>", "</s>", "<unk>", "<s>"
FROM_PARENT, FROM_SCRATCH, PARENT_ALONE = "from the parent", "from scratch", "parent alone (no child data)"


@dataclass(frozen=True)
class TranslationPlan:
    """How big the study is in one profile."""

    parent_steps: int  # batches of `batch_size` pairs the parent trains on
    child_sizes: tuple  # child training pairs; None = all of them
    child_steps: int  # batches each child trains on, whatever its size
    test_size: int  # held-out pairs scored per language
    seeds: int
    embedding_size: int = 128  # one table of subword vectors, shared by both languages and the output layer
    hidden_size: int = 256
    vocab_size: int = 2000
    max_words: int = 4  # messages of at most this many English words (most are that short)
    max_tokens: int = 10  # subword tokens of a message, end included; longer ones are left out of training
    batch_size: int = 32
    lr: float = 3e-3  # the parent's, and a child's from scratch
    child_lr: float = 1e-3  # a child's from the parent: fine-tuning takes smaller steps (lesson 05)


PLANS = {
    "smoke": TranslationPlan(parent_steps=1200, child_sizes=(300,), child_steps=150, test_size=200, seeds=1),
    "cpu": TranslationPlan(parent_steps=4000, child_sizes=(100, 300, 1000), child_steps=300, test_size=250, seeds=2),
    "full": TranslationPlan(parent_steps=12000, child_sizes=(100, 300, 1000, None), child_steps=600, test_size=300,
                            seeds=3, embedding_size=256, hidden_size=512, vocab_size=4000, max_words=8,
                            max_tokens=16, batch_size=64),
}


def plan_for(profile: str | None = None) -> TranslationPlan:
    """The plan of `profile` (default: the active profile)."""
    return PLANS[profile or active_profile().name]


def subword_tokenizer(texts: list[str], vocab_size: int):
    """A byte-pair-encoding vocabulary of `vocab_size` pieces learned from `texts` (all languages together, so
    a word that Galician shares with Spanish gets the same pieces), with the special tokens first."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    if not any(t.strip() for t in texts):
        raise DataError("No text to learn a vocabulary from: load some message pairs first.")
    tokenizer = Tokenizer(models.BPE(unk_token=UNKNOWN))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size,
                                                             special_tokens=[PAD, END, UNKNOWN, START]))
    return tokenizer


def shared_tokenizer(plan: TranslationPlan, languages: tuple = tuple(CHILDREN),
                     parent_languages: tuple = PARENT_LANGUAGES):
    """The one subword vocabulary of a study: learned from the training messages of the parent's languages,
    the children's `languages` and English."""
    texts = [text for language in tuple(parent_languages) + tuple(languages)
             for pairs in [load_message_pairs(language, "train")] for text in pairs.texts + pairs.english]
    return subword_tokenizer(texts, plan.vocab_size)


def shared_words(language: str, parent_languages: tuple = PARENT_LANGUAGES) -> float:
    """The share of a language's words (in its training messages, counted with repeats, case ignored) that also
    occur in the parent languages' training messages: how much of its vocabulary the parent has already read."""
    seen = {word.lower() for parent in parent_languages for text in load_message_pairs(parent, "train").texts
            for word in text.split()}
    words = [word.lower() for text in load_message_pairs(language, "train").texts for word in text.split()]
    return sum(word in seen for word in words) / len(words)


def token_ids(tokenizer, text: str) -> list[int]:
    """A message's subword ids, ending with the end token."""
    return tokenizer.encode(text).ids + [tokenizer.token_to_id(END)]


class Seq2SeqGRU(nn.Module):
    """An encoder-decoder with attention (Bahdanau et al. 2015, Luong et al. 2015), the kind Zoph et al. 2016
    transferred: a bidirectional GRU reads the message, a GRU writes the English one subword at a time, looking
    back at every source position (dot-product attention). One embedding table serves the source, the target
    and the output layer (tied weights), so a subword Spanish and Galician share has one vector."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, pad: int, dropout: float = 0.1):
        super().__init__()
        self.pad = pad
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad)
        self.encoder = nn.GRU(embedding_size, hidden_size // 2, batch_first=True, bidirectional=True)
        self.decoder = nn.GRU(embedding_size, hidden_size, batch_first=True)
        self.combine = nn.Linear(2 * hidden_size, embedding_size)
        self.dropout = nn.Dropout(dropout)

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every source position's state, and the first decoder state (both directions' last states). The GRU
        reads each message only up to its own length (a packed sequence), so padding changes nothing."""
        lengths = source.ne(self.pad).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.dropout(self.embedding(source)), lengths, batch_first=True,
                                      enforce_sorted=False)
        memory, last = self.encoder(packed)
        memory = pad_packed_sequence(memory, batch_first=True, total_length=source.shape[1])[0]
        return memory, torch.cat([last[0], last[1]], dim=-1)[None]

    def decode(self, target_in: torch.Tensor, memory: torch.Tensor, state: torch.Tensor,
               source_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-subword scores for every position of `target_in`, and the decoder's last state."""
        output, state = self.decoder(self.dropout(self.embedding(target_in)), state)
        attention = (output @ memory.transpose(1, 2)).masked_fill(~source_mask[:, None, :], -1e9).softmax(-1)
        mixed = torch.tanh(self.combine(torch.cat([output, attention @ memory], dim=-1)))
        return self.dropout(mixed) @ self.embedding.weight.T, state

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        memory, state = self.encode(source)
        return self.decode(target_in, memory, state, source.ne(self.pad))[0]


def new_translation_model(tokenizer, plan: TranslationPlan, seed: int) -> Seq2SeqGRU:
    """A translation model with random weights (seeded), shaped by the plan."""
    torch.manual_seed(seed)
    return Seq2SeqGRU(tokenizer.get_vocab_size(), plan.embedding_size, plan.hidden_size, tokenizer.token_to_id(PAD))


def _pad_pairs(samples: list, pad: int, start: int) -> list:
    """Pad a batch of (source, target) id lists: (source, target shifted right after a start token, target)."""
    source_length = max(len(s) for s, _ in samples)
    target_length = max(len(t) for _, t in samples)
    padded = []
    for source, target in samples:
        padded.append((torch.tensor(source + [pad] * (source_length - len(source))),
                       torch.tensor([start] + target[:-1] + [pad] * (target_length - len(target))),
                       torch.tensor(target + [pad] * (target_length - len(target)))))
    return padded


def fitting_pairs(pairs: MessagePairs, tokenizer, max_tokens: int) -> MessagePairs:
    """The pairs whose message and English original are both at most `max_tokens` subwords long (end included):
    the model is sized for short messages, and most catalog messages are short."""
    kept = [(text, english) for text, english in zip(pairs.texts, pairs.english)
            if len(token_ids(tokenizer, text)) <= max_tokens and len(token_ids(tokenizer, english)) <= max_tokens]
    if not kept:
        raise DataError(f"No {pairs.language} pair fits in {max_tokens} subwords: raise max_tokens.")
    return MessagePairs(pairs.language, [t for t, _ in kept], [e for _, e in kept])


def sample_pairs(pairs: MessagePairs, size: int | None, seed: int) -> MessagePairs:
    """A seeded sample of `size` pairs (all of them when `size` is None or larger than the set)."""
    if size is None or size >= len(pairs):
        return pairs
    chosen = sorted(random.Random(seed).sample(range(len(pairs)), size))
    return MessagePairs(pairs.language, [pairs.texts[i] for i in chosen], [pairs.english[i] for i in chosen])


def translation_dataloaders(train: list[MessagePairs], valid: list[MessagePairs], tokenizer, steps: int,
                            batch_size: int, device: str | None = None) -> DataLoaders:
    """fastai DataLoaders of (message ids, English ids shifted right) -> English ids. One training epoch is
    `steps` shuffled batches: the pairs repeat as often as that takes, so a few hundred pairs and ten thousand
    train with the same schedule (and fastai's per-epoch work happens once)."""
    def encoded(sets: list[MessagePairs]) -> list[tuple[list[int], list[int]]]:
        return [(token_ids(tokenizer, text), token_ids(tokenizer, english))
                for pairs in sets for text, english in zip(pairs.texts, pairs.english)]
    train_items, valid_items = encoded(train), encoded(valid)
    if not train_items or not valid_items:
        raise DataError("No pairs to train or validate on: load some message pairs first.")
    wanted = steps * batch_size
    repeated = train_items * math.ceil(wanted / len(train_items))
    random.Random(0).shuffle(repeated)  # so a last, partial pass is not all of the first language's pairs
    train_items = repeated[:wanted]
    before_batch = partial(_pad_pairs, pad=tokenizer.token_to_id(PAD), start=tokenizer.token_to_id(START))
    return DataLoaders(DataLoader(train_items, bs=batch_size, shuffle=True, drop_last=True, before_batch=before_batch),
                       DataLoader(valid_items, bs=2 * batch_size, before_batch=before_batch),
                       device=device or detect_device())


def translation_learner(dls: DataLoaders, model: nn.Module, tokenizer) -> Learner:
    """A fastai Learner for next-token prediction, padding ignored."""
    return Learner(dls, model, loss_func=CrossEntropyLossFlat(ignore_index=tokenizer.token_to_id(PAD)), wd=0.01)


def train_steps(learn: Learner, lr: float, quiet: bool = False) -> float:
    """One one-cycle epoch (the loaders' `steps` batches); returns the seconds it took."""
    started = time.perf_counter()
    with contextlib.ExitStack() as silence:
        if quiet:
            silence.enter_context(learn.no_bar())
            silence.enter_context(learn.no_logging())
        learn.fit_one_cycle(1, lr, pct_start=0.1)
    return time.perf_counter() - started


@torch.no_grad()
def translate(model: Seq2SeqGRU, tokenizer, texts: list[str], max_tokens: int, batch_size: int = 200) -> list[str]:
    """Greedy translations of `texts` (the likeliest next subword, each step). A message longer than
    `max_tokens` subwords is cut to that length first, and a line says how many were."""
    if isinstance(texts, str):
        raise DataError("translate takes a list of messages: translate(model, tokenizer, [text], max_tokens).")
    model.eval()
    device = next(model.parameters()).device
    pad, start, end = (tokenizer.token_to_id(name) for name in (PAD, START, END))
    if any(not text.strip() for text in texts):
        raise DataError("An empty message cannot be translated: leave empty strings out.")
    encoded = [token_ids(tokenizer, text) for text in texts]
    cut = sum(len(ids) > max_tokens for ids in encoded)
    if cut:
        print(f"translate: {cut} of {len(texts)} messages were longer than {max_tokens} subwords and were cut.")
    encoded = [ids[:max_tokens - 1] + [end] if len(ids) > max_tokens else ids for ids in encoded]
    outputs = []
    for begin in range(0, len(encoded), batch_size):
        batch = encoded[begin:begin + batch_size]
        width = max(len(ids) for ids in batch)
        source = torch.tensor([ids + [pad] * (width - len(ids)) for ids in batch], device=device)
        memory, state = model.encode(source)
        word = torch.full((len(batch), 1), start, device=device)
        written = []
        for _ in range(max_tokens):  # as long as the longest English message trained on (end included)
            scores, state = model.decode(word, memory, state, source.ne(pad))
            word = scores.argmax(-1)
            written.append(word)
        for row in torch.cat(written, dim=1).tolist():
            row = row[:row.index(end)] if end in row else row
            outputs.append(tokenizer.decode(row).strip())
    return outputs


def chrf_and_bleu(hypotheses: list[str], references: list[str]) -> tuple[float, float]:
    """sacrebleu's corpus chrF and BLEU-2 (0-100). BLEU-2 counts matching words and word pairs: the usual BLEU
    also needs matching runs of 3 and 4 words, which a message of one to three words does not have, so it
    would give even a perfect translation of such a message no credit."""
    from sacrebleu.metrics import BLEU, CHRF
    return (CHRF().corpus_score(hypotheses, [references]).score,
            BLEU(max_ngram_order=2).corpus_score(hypotheses, [references]).score)


@dataclass
class ChildRun:
    """One child model's scores on its language's held-out messages."""

    language: str
    size: int
    start: str  # FROM_PARENT, FROM_SCRATCH or PARENT_ALONE
    seed: int
    chrf: float
    bleu: float
    translations: list = field(default_factory=list)  # of every held-out message, in order


@dataclass
class TranslationStudy:
    """Every run of one comparison, and the parent's own scores."""

    plan: TranslationPlan
    runs: list[ChildRun]
    parent_scores: dict  # {the parent's first language: (chrF, BLEU-2) of the parent on its held-out messages}
    parent_seconds: float
    test: dict  # language -> MessagePairs scored

    def table(self) -> pd.DataFrame:
        """Mean chrF and BLEU-2 over seeds: a row per (language, child pairs), a column per start (the parent
        alone, which saw no child pairs, repeated on each of its language's rows)."""
        frame = pd.DataFrame([vars(r) for r in self.runs]).rename(columns={"chrf": "chrF", "bleu": "BLEU-2"})
        alone = frame[frame.start == PARENT_ALONE].groupby("language")[["chrF", "BLEU-2"]].mean()
        table = frame[frame.start != PARENT_ALONE].pivot_table(index=["language", "size"], columns="start",
                                                               values=["chrF", "BLEU-2"], aggfunc="mean")
        for metric in ("chrF", "BLEU-2"):
            table[metric, PARENT_ALONE] = [alone.loc[language, metric] for language, _ in table.index]
        order = [(metric, start) for metric in ("chrF", "BLEU-2") for start in (PARENT_ALONE, FROM_SCRATCH,
                                                                                 FROM_PARENT)]
        return table[order].rename_axis(columns=["score", "start"]).round(1)

    def gains(self, language: str) -> list[float]:
        """chrF from the parent minus chrF from scratch, for every (size, seed) of `language`."""
        runs = {(r.size, r.seed, r.start): r.chrf for r in self.runs if r.language == language}
        return [runs[size, seed, FROM_PARENT] - runs[size, seed, FROM_SCRATCH]
                for size, seed, start in runs if start == FROM_SCRATCH]

    def parent_alone(self, language: str) -> float:
        """Mean chrF of the parent, never trained on `language`, on its held-out messages."""
        scores = [r.chrf for r in self.runs if r.language == language and r.start == PARENT_ALONE]
        return sum(scores) / len(scores)

    def examples(self, language: str, n: int = 8, seed: int = 0) -> pd.DataFrame:
        """A seeded sample of `n` held-out messages with each model's translation (first seed, largest size)."""
        size = max(r.size for r in self.runs if r.language == language)
        test = self.test[language]
        chosen = sorted(random.Random(seed).sample(range(len(test)), min(n, len(test))))
        rows = {"message": [test.texts[i] for i in chosen], "reference": [test.english[i] for i in chosen]}
        for run in self.runs:
            if run.language == language and run.seed == 0 and run.size in (size, 0):
                rows[run.start] = [run.translations[i] for i in chosen]
        return pd.DataFrame(rows)


def _parent_weights(tokenizer, plan: TranslationPlan, seed: int, device: str, parent_languages: tuple) -> dict:
    """Train the parent on its languages' training pairs, or take it from the cache (keyed by the plan, the
    seed, the vocabulary and the training pairs)."""
    train = [fitting_pairs(load_message_pairs(lang, "train", max_words=plan.max_words), tokenizer, plan.max_tokens)
             for lang in parent_languages]
    valid = [sample_pairs(fitting_pairs(load_message_pairs(lang, "valid", max_words=plan.max_words), tokenizer,
                                        plan.max_tokens), 100, seed=0) for lang in parent_languages]
    digest = hashlib.sha256()
    for pairs in train:
        for text, english in zip(pairs.texts, pairs.english):
            digest.update(f"{text}\t{english}\n".encode())
    import fastai
    used = {name: getattr(plan, name) for name in ("parent_steps", "embedding_size", "hidden_size", "max_tokens",
                                                     "batch_size", "lr")}  # vocabulary and pairs: below
    key = {"kind": "translation parent", "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
           "fastai": fastai.__version__, "plan": used, "seed": seed, "device": device,
           "vocabulary": hashlib.sha256(tokenizer.to_str().encode()).hexdigest(), "pairs": digest.hexdigest()}

    def train_parent() -> dict:
        print(f"Training the parent on {sum(map(len, train)):,} pairs ({', '.join(parent_languages)} -> en), "
              f"{plan.parent_steps} batches of {plan.batch_size}:")
        seed_everything(seed)
        dls = translation_dataloaders(train, valid, tokenizer, plan.parent_steps, plan.batch_size, device)
        learn = translation_learner(dls, new_translation_model(tokenizer, plan, seed), tokenizer)
        seconds = train_steps(learn, plan.lr)
        return {"weights": {k: v.cpu() for k, v in learn.model.state_dict().items()}, "seconds": seconds}
    return cached(key, train_parent)


def compare_translation(plan: TranslationPlan | None = None, seed: int | None = None, device: str | None = None,
                        languages: tuple = tuple(CHILDREN), parent_languages: tuple = PARENT_LANGUAGES
                        ) -> TranslationStudy:
    """Parent vs scratch for every child language, child data size and seed of the plan (base seed: the
    profile's). The parent learns `parent_languages` -> English (its first language is also scored, as the
    parent's own). Every child is tested on the same English messages: those translated into all `languages`."""
    plan = plan or plan_for()
    device = device or detect_device()
    seed = active_profile().seeds[0] if seed is None else seed
    if isinstance(languages, str) or isinstance(parent_languages, str) or not languages or not parent_languages:
        raise DataError('languages and parent_languages are tuples of one or more language codes, e.g. '
                        'languages=("gl",), parent_languages=("es", "pt").')
    overlap = set(languages) & set(parent_languages)
    if overlap:
        raise DataError(f"{', '.join(sorted(overlap))} cannot be both a parent language and a child: leave it out "
                        f"of one of them.")
    tokenizer = shared_tokenizer(plan, languages, parent_languages)

    def usable(language: str, split: str) -> MessagePairs:
        return fitting_pairs(load_message_pairs(language, split, max_words=plan.max_words), tokenizer,
                             plan.max_tokens)
    own = parent_languages[0]
    test = {own: sample_pairs(usable(own, "valid"), plan.test_size, seed=0), **aligned_pairs(
        [usable(language, "valid") for language in languages], plan.test_size)}
    threads = one_thread() if device == "cpu" else contextlib.nullcontext()  # small layers: one thread is faster
    runs, parent_scores, parent_seconds = [], [], 0.0
    with threads:
        for s in range(plan.seeds):
            run_seed = seed + 100 * s
            entry = _parent_weights(tokenizer, plan, run_seed, device, tuple(parent_languages))
            parent = new_translation_model(tokenizer, plan, run_seed)
            parent.load_state_dict(entry["weights"])
            parent.to(device)
            parent_seconds += float(entry["seconds"]) / plan.seeds
            parent_scores.append(chrf_and_bleu(translate(parent, tokenizer, test[own].texts, plan.max_tokens),
                                               test[own].english))
            for language in languages:
                runs.append(_scored(parent, tokenizer, plan, test[language], 0, PARENT_ALONE, s))
                train_all = usable(language, "train")
                for size in plan.child_sizes:
                    pairs = sample_pairs(train_all, size, seed=run_seed)
                    for start in (FROM_PARENT, FROM_SCRATCH):
                        seed_everything(run_seed + 1)
                        model = copy.deepcopy(parent) if start == FROM_PARENT else new_translation_model(
                            tokenizer, plan, run_seed + 1)
                        # fastai needs a validation set; its loss is never used to choose anything
                        dls = translation_dataloaders([pairs], [test[language]], tokenizer, plan.child_steps,
                                                      plan.batch_size, device)
                        learn = translation_learner(dls, model, tokenizer)
                        seconds = train_steps(learn, plan.child_lr if start == FROM_PARENT else plan.lr, quiet=True)
                        runs.append(_scored(learn.model, tokenizer, plan, test[language], len(pairs), start, s))
                        print(f"{language}, {len(pairs)} pairs, {start}: chrF {runs[-1].chrf:.1f} ({seconds:.0f} s)")
    own_scores = tuple(sum(values) / len(values) for values in zip(*parent_scores))
    return TranslationStudy(plan, runs, {own: own_scores}, parent_seconds, test)


def _scored(model: nn.Module, tokenizer, plan: TranslationPlan, test: MessagePairs, size: int, start: str,
            seed: int) -> ChildRun:
    hypotheses = translate(model, tokenizer, test.texts, plan.max_tokens)
    chrf, bleu = chrf_and_bleu(hypotheses, test.english)
    return ChildRun(test.language, size, start, seed, chrf, bleu, hypotheses)
