import collections
import csv
import re

import pytest
import torch

from tlcourse import translation
from tlcourse.assets import prepare
from tlcourse.data import dataset_path
from tlcourse.errors import DataError
from tlcourse.text_data import MessagePairs, aligned_pairs, load_message_pairs, same_messages

PLAN = translation.TranslationPlan(parent_steps=4, child_sizes=(20,), child_steps=2, test_size=10, seeds=1,
                                   embedding_size=16, hidden_size=32, vocab_size=300, batch_size=4)


@pytest.fixture(scope="module")
def tokenizer():
    return translation.shared_tokenizer(PLAN)


def test_no_message_is_in_both_train_and_valid_in_any_language():
    """Held out by the English message with case and punctuation removed, across every language at once: no
    child's test message is in any parent language's training set, not even as a near-copy."""
    splits = collections.defaultdict(set)
    for language in ("es", "ca", "it", "fr", "pt", "gl", "eu"):
        with open(dataset_path("translation") / f"{language}.csv", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                key = " ".join(re.sub(r"[^\w]+", " ", row["english"].lower()).split())
                splits[key].add(row["split"])
    assert not [key for key, seen in splits.items() if len(seen) > 1]
    held_out = sum(seen == {"valid"} for seen in splits.values()) / len(splits)
    assert 0.07 <= held_out <= 0.13
    parent_training = {e for lang in translation.PARENT_LANGUAGES for e in load_message_pairs(lang, "train").english}
    assert not parent_training & set(load_message_pairs("gl", "valid").english)


def test_near_copies_of_a_message_share_a_split():
    assert prepare.translation_split("Save changes") == prepare.translation_split("Save changes.")
    assert prepare.translation_split("Save changes") == prepare.translation_split("save  CHANGES!")


def test_messages_with_fields_markup_or_no_translation_are_left_out():
    assert prepare._usable_message("Delete page", "Eliminar página")
    for english, text in (("Delete %(name)s", "Eliminar %(name)s"), ("<b>Bold</b>", "<b>Negrita</b>"),
                          ("Page {0}", "Página {0}"), ("Save", "Save"), ("", "Algo"), ("Help", "")):
        assert not prepare._usable_message(english, text), (english, text)


def test_the_data_set_matches_its_manifest():
    assert prepare.translation_rows() == prepare.read_manifest("translation")


def test_unknown_language_and_split_name_the_choices():
    with pytest.raises(DataError, match="choose one of es, ca"):
        load_message_pairs("xx")
    with pytest.raises(DataError, match="'train' or 'valid'"):
        load_message_pairs("gl", "test")
    with pytest.raises(DataError, match="at most 0 English words: raise `max_words`"):
        load_message_pairs("gl", max_words=0)


def test_same_messages_line_up_across_languages():
    table = same_messages(("es", "gl"), limit=5, seed=0)
    assert list(table.columns) == ["english", "es", "gl"] and len(table) == 5
    spanish = dict(zip(*[getattr(load_message_pairs("es"), name) for name in ("english", "texts")]))
    assert all(spanish[e] == t for e, t in zip(table["english"], table["es"]))


def test_galician_shares_far_more_words_with_the_parent_than_basque():
    assert translation.shared_words("gl") > translation.shared_words("eu") + 0.3


def test_fitting_pairs_drop_long_messages_and_sample_pairs_is_seeded(tokenizer):
    pairs = MessagePairs("gl", ["Gardar", "unha mensaxe moi longa " * 5], ["Save", "a very long message " * 5])
    kept = translation.fitting_pairs(pairs, tokenizer, max_tokens=6)
    assert kept.texts == ["Gardar"]
    with pytest.raises(DataError, match="raise max_tokens"):
        translation.fitting_pairs(pairs, tokenizer, max_tokens=1)
    gl = load_message_pairs("gl")
    assert translation.sample_pairs(gl, 10, seed=1).texts == translation.sample_pairs(gl, 10, seed=1).texts
    assert len(translation.sample_pairs(gl, None, seed=1)) == len(gl)


def test_an_empty_vocabulary_source_is_an_error():
    with pytest.raises(DataError, match="No text"):
        translation.subword_tokenizer(["", "  "], vocab_size=100)


def test_batches_repeat_small_sets_to_the_planned_steps(tokenizer):
    pairs = translation.sample_pairs(load_message_pairs("gl", max_words=3), 6, seed=0)
    dls = translation.translation_dataloaders([pairs], [pairs], tokenizer, steps=5, batch_size=4, device="cpu")
    assert len(dls.train) == 5
    source, target_in, target = dls.one_batch()
    start = tokenizer.token_to_id(translation.START)
    assert (target_in[:, 0] == start).all() and target_in.shape == target.shape
    with pytest.raises(DataError, match="No pairs"):
        translation.translation_dataloaders([MessagePairs("gl", [], [])], [pairs], tokenizer, 5, 4, "cpu")


def test_gradients_reach_every_layer_and_none_reach_a_frozen_encoder(tokenizer):
    pairs = translation.sample_pairs(load_message_pairs("gl", max_words=3), 8, seed=0)
    dls = translation.translation_dataloaders([pairs], [pairs], tokenizer, steps=1, batch_size=4, device="cpu")
    model = translation.new_translation_model(tokenizer, PLAN, seed=0)
    learn = translation.translation_learner(dls, model, tokenizer)
    source, target_in, target = dls.one_batch()
    learn.loss_func(model(source, target_in), target).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.zero_grad(set_to_none=True)
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    learn.loss_func(model(source, target_in), target).backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.decoder.weight_ih_l0.grad.abs().sum() > 0


def test_padding_does_not_change_a_translation_score(tokenizer):
    model = translation.new_translation_model(tokenizer, PLAN, seed=0).eval()
    pad = tokenizer.token_to_id(translation.PAD)
    ids = torch.tensor([translation.token_ids(tokenizer, "Gardar cambios")])
    padded = torch.nn.functional.pad(ids, (0, 3), value=pad)
    target_in = torch.tensor([[tokenizer.token_to_id(translation.START)]])
    with torch.no_grad():
        assert torch.allclose(model(ids, target_in), model(padded, target_in), atol=1e-5)


def test_translate_refuses_a_string_and_an_empty_message_and_says_what_it_cut(tokenizer, capsys):
    model = translation.new_translation_model(tokenizer, PLAN, seed=0)
    with pytest.raises(DataError, match="takes a list"):
        translation.translate(model, tokenizer, "Gardar", max_tokens=8)
    with pytest.raises(DataError, match="empty message"):
        translation.translate(model, tokenizer, ["Gardar", ""], max_tokens=8)
    with pytest.raises(DataError, match="empty message"):
        translation.translate(model, tokenizer, ["  "], max_tokens=8)
    out = translation.translate(model, tokenizer, ["Gardar", "unha mensaxe moi longa " * 5], max_tokens=8)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    assert "1 of 2 messages were longer than 8 subwords" in capsys.readouterr().out


def test_scores_are_perfect_for_the_references_and_low_for_nonsense():
    references = ["Save changes", "Delete page", "Open file"]
    assert translation.chrf_and_bleu(references, references) == pytest.approx((100.0, 100.0))
    chrf, bleu = translation.chrf_and_bleu(["xyz", "qqq", "www"], references)
    assert chrf < 10 and bleu < 1
    assert 0 < translation.chrf_and_bleu(["Save change", "Delete pages", "Open file"], references)[1] < 100


def test_a_tiny_study_runs_and_reuses_its_cached_parent(capsys):
    study = translation.compare_translation(PLAN, device="cpu", languages=("gl",))
    assert "Training the parent" in capsys.readouterr().out
    starts = collections.Counter(run.start for run in study.runs)
    assert starts == {translation.FROM_PARENT: 1, translation.FROM_SCRATCH: 1, translation.PARENT_ALONE: 1}
    assert len(study.gains("gl")) == 1 and set(study.parent_scores) == {"es"}
    table = study.table()
    assert list(table.index) == [("gl", 20)] and table.shape[1] == 6 and not table.isna().any().any()
    assert table.loc[("gl", 20), ("chrF", translation.PARENT_ALONE)] == round(study.parent_alone("gl"), 1)
    examples = study.examples("gl", 4)
    assert len(examples) == 4 and set(examples["reference"]) <= set(study.test["gl"].english)
    from tlcourse.plots import plot_translation
    assert len(plot_translation(study).axes) == 1
    again = translation.compare_translation(PLAN, device="cpu", languages=("gl",))
    assert "Training the parent" not in capsys.readouterr().out
    assert [r.chrf for r in again.runs] == [r.chrf for r in study.runs]


def test_a_language_cannot_be_parent_and_child_and_languages_are_tuples():
    with pytest.raises(DataError, match="both a parent language and a child"):
        translation.compare_translation(PLAN, device="cpu", languages=("es",))
    for bad in ({"languages": "gl"}, {"parent_languages": ()}):
        with pytest.raises(DataError, match="tuples of one or more language codes"):
            translation.compare_translation(PLAN, device="cpu", **bad)


def test_children_are_tested_on_the_same_english_messages():
    gl, eu = load_message_pairs("gl", "valid"), load_message_pairs("eu", "valid")
    test = aligned_pairs([gl, eu], size=50)
    assert test["gl"].english == test["eu"].english and len(test["gl"]) == 50
    assert dict(zip(gl.english, gl.texts))[test["gl"].english[0]] == test["gl"].texts[0]
    assert dict(zip(eu.english, eu.texts))[test["eu"].english[0]] == test["eu"].texts[0]
    with pytest.raises(DataError, match="No message is translated into all"):
        aligned_pairs([MessagePairs("gl", ["a"], ["x"]), MessagePairs("eu", ["b"], ["y"])], size=5)
