import pytest
import torch

from tlcourse import sentiment
from tlcourse.assets.text_models import load_text_encoder
from tlcourse.errors import DataError
from tlcourse.text_data import Sentences, load_sentences, text_dataloaders


@pytest.fixture(scope="module")
def encoder():
    return load_text_encoder()


@pytest.fixture(scope="module")
def dls(encoder):
    train = load_sentences("amazon", "train", limit=24, seed=0)
    valid = load_sentences("amazon", "valid", limit=16, seed=0)
    return text_dataloaders(train, valid, encoder.tokenizer, batch_size=8, device="cpu")


def test_batches_are_padded_token_ids_of_similar_length(dls, encoder):
    ids, labels = dls.one_batch()
    assert ids.shape[0] == labels.shape[0] == 8 and ids.dtype == torch.long
    pad = encoder.tokenizer.pad_token_id
    lengths = (ids != pad).sum(1)
    assert lengths.max() == ids.shape[1]  # padded to the longest sentence of the batch, no further
    assert list(dls.vocab) == ["negative", "positive"]


def test_long_text_is_cut_to_the_token_limit(encoder):
    long = Sentences("test", ["great " * 400, "bad"], ["positive", "negative"])
    loaders = text_dataloaders(long, long, encoder.tokenizer, batch_size=2, max_tokens=64, device="cpu")
    ids, _ = loaders.one_batch()
    assert ids.shape[1] == 64


def test_labels_the_training_set_lacks_are_an_error(encoder):
    train = Sentences("a", ["good", "fine"], ["positive", "positive"])
    valid = Sentences("b", ["bad", "good"], ["negative", "positive"])
    with pytest.raises(DataError, match="never occur in the training sentences"):
        text_dataloaders(train, valid, encoder.tokenizer)


def test_padding_does_not_change_a_sentence_score(dls, encoder):
    learn = sentiment.sentiment_learner(dls, encoder, seed=0)
    model = learn.model.eval()
    ids = torch.tensor([encoder.tokenizer("I love it")["input_ids"]])
    padded = torch.nn.functional.pad(ids, (0, 7), value=encoder.tokenizer.pad_token_id)
    with torch.no_grad():
        assert torch.allclose(model(ids), model(padded), atol=1e-5)


def test_groups_cover_every_parameter_once_bottom_to_top(dls, encoder):
    model = sentiment.sentiment_learner(dls, encoder, seed=0).model
    groups = sentiment.layer_groups(model)
    assert len(groups) == 1 + 6 + 1  # embeddings, 6 layers, head
    assert sum(len(g) for g in groups) == len(list(model.parameters()))
    assert {id(p) for g in groups for p in g} == {id(p) for p in model.parameters()}


def test_gradients_reach_the_unfrozen_layers_only(dls, encoder):
    learn = sentiment.sentiment_learner(dls, encoder, seed=0)
    learn.freeze_to(-3)  # head + top two layers
    ids, labels = dls.one_batch()
    learn.loss_func(learn.model(ids), labels).backward()
    transformer = learn.model.transformer
    def has_grad(module):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    assert has_grad(learn.model.head) and has_grad(transformer.encoder.layer[5]) and has_grad(transformer.encoder.layer[4])
    assert not any(has_grad(m) for m in [transformer.embeddings, *transformer.encoder.layer[:4]])


def test_the_pretrained_learner_copies_the_encoder_and_scratch_is_random(dls, encoder):
    pretrained = sentiment.sentiment_learner(dls, encoder, pretrained=True, seed=0).model.transformer
    scratch = sentiment.sentiment_learner(dls, encoder, pretrained=False, seed=0).model.transformer
    reference = encoder.transformer.encoder.layer[0].attention.self.query.weight
    assert torch.equal(pretrained.encoder.layer[0].attention.self.query.weight, reference)
    assert pretrained.encoder.layer[0].attention.self.query.weight is not reference  # a copy: lessons never alter it
    assert not torch.allclose(scratch.encoder.layer[0].attention.self.query.weight, reference)


def test_gradual_unfreezing_scores_each_stage_and_leaves_the_frozen_bottom_alone(dls, encoder):
    learn = sentiment.sentiment_learner(dls, encoder, seed=0)
    bottom = {k: v.clone() for k, v in learn.model.transformer.encoder.layer[3].state_dict().items()}
    top = learn.model.transformer.encoder.layer[5].attention.self.query.weight.clone()
    with learn.no_bar(), learn.no_logging():
        scores = sentiment.gradual_unfreezing(learn, depth=2, epochs=1,
                                              score=lambda l: sentiment.trainable_parameters(l.model))
    assert len(scores) == 3 and scores[0] < scores[1] < scores[2]  # one more layer per stage
    assert scores[2] - scores[1] == sum(p.numel() for p in learn.model.transformer.encoder.layer[4].parameters())
    after = learn.model.transformer.encoder.layer[3].state_dict()
    assert all(torch.equal(bottom[k], after[k]) for k in bottom)
    assert not torch.equal(top, learn.model.transformer.encoder.layer[5].attention.self.query.weight)


def test_step_costs_grow_with_depth_and_restore_the_weights(dls, encoder):
    learn = sentiment.sentiment_learner(dls, encoder, seed=0)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    table = sentiment.step_costs(learn, depths=(0, 6), rounds=2)
    assert list(table.index) == [0, 6]
    assert table.loc[6, "cost vs head only"] > 1.2  # backward through all six layers costs more than none
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())


def test_stage_epochs_give_small_sets_more_epochs():
    assert sentiment.stage_epochs(50, 200) == 4
    assert sentiment.stage_epochs(500, 200) == 1


def test_ulmfit_on_imdb_skips_in_one_line_outside_the_full_profile(monkeypatch, capsys):
    monkeypatch.setenv("TLCOURSE_PROFILE", "smoke")
    assert sentiment.ulmfit_imdb() is None
    out = capsys.readouterr().out.strip()
    assert out.startswith("Skipped") and "\n" not in out


def test_ulmfit_on_imdb_skips_in_one_line_when_offline(monkeypatch, capsys):
    from tlcourse import data
    from tlcourse.errors import DownloadError
    monkeypatch.setenv("TLCOURSE_PROFILE", "full")
    def offline(name):
        raise DownloadError(f"{name} is downloaded from https://example.org/imdb.tgz, and this machine is offline.")
    monkeypatch.setattr(data, "dataset_path", offline)
    assert sentiment.ulmfit_imdb() is None
    out = capsys.readouterr().out.strip()
    assert out.startswith("Skipped: imdb is downloaded") and "\n" not in out


def test_validate_still_works_on_a_learner_that_skips_validation_while_fitting(dls, encoder):
    learn = sentiment.sentiment_learner(dls, encoder, seed=0)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-4)
    with learn.no_bar():
        assert 0 <= learn.validate()[1] <= 1


def test_depth_beyond_the_layers_is_refused(dls, encoder):
    learn = sentiment.sentiment_learner(dls, encoder, seed=0)
    with pytest.raises(ValueError, match="between 0 .* and 6"):
        sentiment.gradual_unfreezing(learn, depth=7, epochs=1)


def test_study_tables_and_margins_average_over_seeds():
    runs = [sentiment.SentimentRun(method, n, seed, accuracy, accuracy - 0.1, 1.0, [accuracy] * 3)
            for seed, shift in ((0, 0.0), (1, 0.02))
            for method, n, accuracy in ((sentiment.FROZEN, 50, 0.70 + shift), (sentiment.FINE_TUNED, 50, 0.72 + shift),
                                        (sentiment.FROZEN, 200, 0.80 + shift), (sentiment.FINE_TUNED, 200, 0.84 + shift),
                                        (sentiment.SCRATCH, 200, 0.50 + shift))]
    study = sentiment.SentimentStudy("amazon", "tweets", 2, runs)
    assert study.sizes == [50, 200]
    assert study.margins(sentiment.SCRATCH) == pytest.approx({200: 0.34})  # scratch only where it ran
    assert study.margins(sentiment.FROZEN) == pytest.approx({50: 0.02, 200: 0.04})
    assert study.table().loc[50, sentiment.FINE_TUNED] == pytest.approx(0.73)
    assert list(study.stage_table().columns) == ["head only", "+ top 1 layer", "+ top 2 layers"]
