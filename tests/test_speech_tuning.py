import dataclasses

import pytest
import torch

from tlcourse import speech_tuning
from tlcourse.assets.speech_models import load_speech_model_torch, speech_tokenizer
from tlcourse.audio_data import load_clips
from tlcourse.errors import DataError
from tlcourse.speech import digit_words


@pytest.fixture(scope="module")
def tokenizer():
    return speech_tokenizer()


def test_targets_are_the_next_tokens_of_the_word_and_the_end_nothing_on_the_prompt(tokenizer):
    inputs, targets = speech_tuning.token_batches(tokenizer, ["dim", "pedwar"])
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    pedwar = tokenizer.encode(" pedwar")
    assert inputs[1].tolist() == prompt + pedwar
    assert targets[1].tolist() == [speech_tuning.IGNORE] * (len(prompt) - 1) + pedwar + [tokenizer.eot]
    dim = tokenizer.encode(" dim")
    assert targets[0].tolist()[len(prompt) - 1:] == dim + [tokenizer.eot] + [speech_tuning.IGNORE] * (
        len(pedwar) - len(dim))


def test_only_the_decoder_layers_are_trainable():
    whisper = load_speech_model_torch(window_seconds=2.0)
    trainable = speech_tuning.freeze_all_but_decoder_layers(whisper)
    names = {name for name, p in whisper.named_parameters() if p.requires_grad}
    assert names and all(n.startswith(("model.decoder.layers.", "model.decoder.layer_norm.")) for n in names)
    assert trainable == sum(p.numel() for n, p in whisper.named_parameters() if n in names) == 9_464_064


def test_digit_accuracy_takes_the_word_in_the_domains_language_or_the_numeral():
    assert speech_tuning.digit_accuracy(["Tri.", "3", "three", "un dau"], ["3", "3", "3", "1"], "welsh") == 0.5
    assert speech_tuning.digit_accuracy(["Three!", "3"], ["3", "3"], "us") == 1.0


def test_tuning_the_decoder_on_a_few_welsh_clips_changes_what_it_writes(tokenizer):
    """A tiny tuning run (the lesson's claim, in miniature): the decoder's layers change, the encoder and the
    embeddings do not, and the model gets held-out Welsh digits right that it got wrong before."""
    whisper = load_speech_model_torch(window_seconds=2.0)
    held_out = load_clips("welsh", "valid", per_class=2)
    before = speech_tuning.greedy_transcripts(whisper, tokenizer, speech_tuning.encoder_states(whisper, held_out))
    assert speech_tuning.digit_accuracy(before, held_out.labels, "welsh") == 0.0, before
    frozen = whisper.model.encoder.conv1.weight.clone(), whisper.model.decoder.embed_tokens.weight.clone()
    layer = whisper.model.decoder.layers[0].fc1.weight.clone()
    train = load_clips("welsh", "train", per_class=4, seed=0)
    words = [digit_words("welsh")[int(y)] for y in train.labels]
    plan = dataclasses.replace(speech_tuning.plan_for("smoke"), steps=12)
    speech_tuning.tune_decoder(whisper, tokenizer, speech_tuning.encoder_states(whisper, train), words, plan,
                               seed=0, device="cpu")
    assert torch.equal(frozen[0], whisper.model.encoder.conv1.weight)
    assert torch.equal(frozen[1], whisper.model.decoder.embed_tokens.weight)
    assert not torch.equal(layer, whisper.model.decoder.layers[0].fc1.weight)
    transcripts = speech_tuning.greedy_transcripts(whisper, tokenizer, speech_tuning.encoder_states(whisper, held_out))
    assert speech_tuning.digit_accuracy(transcripts, held_out.labels, "welsh") >= 0.7, transcripts
    with pytest.raises(DataError, match="one word per clip"):
        speech_tuning.tune_decoder(whisper, tokenizer, speech_tuning.encoder_states(whisper, train), words[:3],
                                   plan, seed=0, device="cpu")


def test_encoder_states_refuse_no_clips_and_models_that_are_not_pytorch_whisper():
    from tlcourse.assets.speech_models import load_speech_model
    whisper = load_speech_model_torch(window_seconds=2.0)
    clips = load_clips("us", "valid", per_class=1)
    empty = dataclasses.replace(clips, audio=[], labels=[], files=[])
    with pytest.raises(DataError, match="No clips"):
        speech_tuning.encoder_states(whisper, empty)
    with pytest.raises(DataError, match="load_speech_model_torch"):
        speech_tuning.encoder_states(load_speech_model(device="cpu", threads=1), clips)


def test_a_per_digit_sample_takes_that_many_of_each_digit_by_seed():
    labels = [str(d) for d in range(10)] * 12
    chosen = speech_tuning.per_digit_sample(labels, 3, seed=1)
    assert sorted(labels[i] for i in chosen) == sorted([str(d) for d in range(10)] * 3)
    assert chosen == speech_tuning.per_digit_sample(labels, 3, seed=1) != speech_tuning.per_digit_sample(labels, 3, 2)
    assert len(speech_tuning.per_digit_sample(labels, 50, seed=0)) == 120
    with pytest.raises(DataError, match="at least 1"):
        speech_tuning.per_digit_sample(labels, 0, seed=0)
