import struct

import numpy as np
import pytest
import torch

from tlcourse.assets import speech_models, whisper_conversion
from tlcourse.audio_data import load_clips, load_read_speech
from tlcourse.errors import MissingAsset
from tlcourse.speech_tuning import encoder_states, greedy_transcripts


@pytest.fixture(scope="module")
def whisper_30s():
    return speech_models.load_speech_model_torch()


def test_the_ctranslate2_file_is_read_whole_and_every_tensor_placed(whisper_30s):
    variables = whisper_conversion.read_ctranslate2(speech_models.speech_model_folder() / "model.bin")
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]  # an alias
    assert variables["encoder/conv1/weight"].shape == (384, 80, 3)
    config = whisper_30s.config
    assert (config.encoder_layers, config.decoder_layers, config.d_model, config.vocab_size) == (4, 4, 384, 51864)
    state = whisper_30s.state_dict()
    fused = variables["encoder/layer_2/self_attention/linear_0/weight"]
    assert torch.equal(state["model.encoder.layers.2.self_attn.v_proj.weight"],
                       torch.from_numpy(fused[768:].astype(np.float32)))
    assert whisper_30s.proj_out.weight is whisper_30s.model.decoder.embed_tokens.weight
    stored = sum(v.size for name, v in variables.items() if v.ndim and name != "decoder/projection/weight")
    key_biases = 4 * 384 + 2 * 4 * 384  # the zero key biases CTranslate2 adds (self-attention, cross-attention)
    assert sum(p.numel() for p in whisper_30s.parameters()) == stored - key_biases


def _model_file(path, version: int = 6, dtype_id: int = 0, trailing: bytes = b""):
    def text(value: str) -> bytes:
        return struct.pack("H", len(value) + 1) + value.encode() + b"\0"
    weights = np.ones(3, np.float32).tobytes()
    path.write_bytes(struct.pack("I", version) + text("WhisperSpec") + struct.pack("I", 3) + struct.pack("I", 1)
                     + text("w") + struct.pack("B", 1) + struct.pack("I", 3) + struct.pack("B", dtype_id)
                     + struct.pack("I", len(weights)) + weights + struct.pack("I", 0) + trailing)
    return path


def test_bad_model_files_are_refused_naming_the_fix(tmp_path):
    assert whisper_conversion.read_ctranslate2(_model_file(tmp_path / "ok.bin"))["w"].tolist() == [1, 1, 1]
    with pytest.raises(MissingAsset, match="format 5.*make install"):
        whisper_conversion.read_ctranslate2(_model_file(tmp_path / "old.bin", version=5))
    with pytest.raises(MissingAsset, match="id 5.*pinned model wheel"):
        whisper_conversion.read_ctranslate2(_model_file(tmp_path / "bf16.bin", dtype_id=5))
    with pytest.raises(MissingAsset, match="bytes after its last entry"):
        whisper_conversion.read_ctranslate2(_model_file(tmp_path / "long.bin", trailing=b"\0\0"))


def test_tensors_or_settings_the_converter_does_not_know_are_refused(whisper_30s):
    variables = dict(whisper_conversion.read_ctranslate2(speech_models.speech_model_folder() / "model.bin"))
    special = {"<|endoftext|>": 50256, "<|startoftranscript|>": 50257}
    with pytest.raises(ValueError, match="window_seconds"):
        whisper_conversion.whisper_config(variables, special, window_seconds=31)
    config = whisper_conversion.whisper_config(variables, special)
    with pytest.raises(MissingAsset, match="does not place: encoder/extra"):
        whisper_conversion.whisper_state_dict({**variables, "encoder/extra": np.ones(2, np.float16)}, config)
    bias = variables["decoder/layer_0/attention/linear_1/bias"].copy()
    bias[0] = 1
    with pytest.raises(MissingAsset, match="non-zero key bias"):
        whisper_conversion.whisper_state_dict({**variables, "decoder/layer_0/attention/linear_1/bias": bias}, config)
    with pytest.raises(MissingAsset, match="Not a Whisper model.*pre_norm"):
        whisper_conversion.whisper_config({**variables, "decoder/pre_norm": np.int8(0)}, special)
    untied = {**variables, "decoder/projection/weight": variables["decoder/embeddings/weight"].copy()}
    with pytest.raises(MissingAsset, match="tokens? embeddings"):
        whisper_conversion.whisper_state_dict(untied, config)


def test_pytorch_and_ctranslate2_agree_on_real_speech(whisper_30s):
    """The converted model's encoder output matches CTranslate2's (float32 both), and its greedy transcripts of
    real recordings are word for word what faster-whisper writes."""
    import ctranslate2
    reference = speech_models.load_speech_model(device="cpu", compute_type="float32")
    clips = load_read_speech()
    clips.audio, clips.labels, clips.files = clips.audio[:2], clips.labels[:2], clips.files[:2]
    states = encoder_states(whisper_30s, clips)
    features = reference.feature_extractor(np.pad(clips.audio[0], (0, 30 * 16000 - len(clips.audio[0]))))
    theirs = np.array(reference.model.encode(ctranslate2.StorageView.from_array(
        np.ascontiguousarray(features[None, :, :-1]))))[0]
    assert np.abs(states[0].numpy() - theirs).max() < 1e-3, np.abs(states[0].numpy() - theirs).max()
    tokenizer = speech_models.speech_tokenizer()
    ours = greedy_transcripts(whisper_30s, tokenizer, states, max_tokens=60)
    for audio, text in zip(clips.audio, ours):
        segments, _ = reference.transcribe(audio, language="en", beam_size=1, temperature=0.0,
                                           without_timestamps=True, condition_on_previous_text=False)
        assert text == " ".join(s.text.strip() for s in segments)


def test_a_short_window_model_encodes_short_clips_and_refuses_long_ones():
    whisper = speech_models.load_speech_model_torch(window_seconds=2.0)
    clips = load_clips("us", "valid", per_class=1)
    assert encoder_states(whisper, clips).shape == (10, 100, 384)
    from tlcourse.errors import DataError
    clips.audio[0] = np.concatenate([clips.audio[0]] * 5)
    with pytest.raises(DataError, match="longer than the model's 2 s window"):
        encoder_states(whisper, clips)
