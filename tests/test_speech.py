import random
import wave

import numpy as np
import pytest

from tlcourse import audio_data
from tlcourse.assets import prepare, speech_models
from tlcourse.errors import DataError, MissingAsset


def _write_wav(path, samples: np.ndarray, rate: int, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(channels)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def _tone(seconds: float, rate: int) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)


def test_spoken_digits_hold_out_whole_speakers_in_every_domain():
    rows = prepare.read_manifest("spoken_digits")
    assert len(rows) == 5 * 8 * 2 * 10
    for row in rows:
        speaker = row["file"].split("/")[1].split("_")[0]
        assert (row["split"] == "valid") == (speaker in prepare.SPOKEN_DIGIT_HELD_OUT)
    domains = {row["file"].split("/")[0] for row in rows}
    assert domains == set(prepare.SPOKEN_DIGIT_ACCENTS)


def test_synthesis_gives_the_clips_the_manifest_records(tmp_path, needs_debian):
    needs_debian("espeak-ng")
    rows = random.Random(0).sample(prepare.read_manifest("spoken_digits"), 8)
    for row in rows:
        prepare._synthesise(row["source"].split(" "), tmp_path / "clip.wav")
        assert prepare.sha256_of(tmp_path / "clip.wav") == row["sha256"], row


def test_welsh_clips_say_welsh_digit_words():
    welsh = [r for r in prepare.read_manifest("spoken_digits") if r["file"].startswith("welsh/")]
    assert {r["source"].split(" ")[-1] for r in welsh} == set(prepare.SPOKEN_DIGIT_WORDS["cy"])


def test_clips_load_as_16_khz_mono_with_labels_per_class():
    clips = audio_data.load_clips("scotland", "valid", per_class=2, seed=1)
    assert len(clips) == 20 and sorted(set(clips.labels)) == [str(d) for d in range(10)]
    assert all(a.dtype == np.float32 and a.ndim == 1 and 0.2 < len(a) / audio_data.SAMPLE_RATE < 3
               for a in clips.audio)
    with pytest.raises(DataError, match="choose one of us, scotland"):
        audio_data.load_clips("mars")
    with pytest.raises(DataError, match="'train' or 'valid'"):
        audio_data.load_clips("us", "test")
    with pytest.raises(DataError, match="not audio"):
        audio_data.load_clips("us", dataset="sentiment")


def test_stereo_and_other_sample_rates_become_16_khz_mono(tmp_path):
    stereo = np.stack([_tone(1.0, 8000), _tone(1.0, 8000)], axis=1).reshape(-1)
    _write_wav(tmp_path / "stereo.wav", stereo, 8000, channels=2)
    audio = audio_data.read_clip(tmp_path / "stereo.wav")
    assert audio.ndim == 1 and len(audio) == audio_data.SAMPLE_RATE
    assert 0.4 < np.abs(audio).max() < 0.6


def test_bad_clips_are_refused_naming_the_fix(tmp_path):
    _write_wav(tmp_path / "silent.wav", np.zeros(16000), 16000)
    with pytest.raises(DataError, match="silent"):
        audio_data.read_clip(tmp_path / "silent.wav")
    _write_wav(tmp_path / "long.wav", _tone(31, 16000), 16000)
    with pytest.raises(DataError, match="longer than the model's 30 s window: cut it"):
        audio_data.read_clip(tmp_path / "long.wav")
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(DataError, match="not a PCM WAV file.*ffmpeg"):
        audio_data.read_clip(tmp_path / "notes.wav")
    with pytest.raises(DataError, match="No audio file"):
        audio_data.read_clip(tmp_path / "missing.wav")
    with pytest.raises(DataError, match="no samples"):
        audio_data.check_clip(np.zeros(0), 16000)


def test_the_speech_model_is_checksummed_and_a_changed_file_refused(monkeypatch):
    assert (speech_models.speech_model_folder() / "model.bin").is_file()
    spec = speech_models.get_speech_model_spec("whisper-tiny.en")
    changed = (("model.bin", "0" * 64),) + spec.files[1:]
    monkeypatch.setitem(speech_models.SPEECH_MODELS, "whisper-tiny.en",
                        speech_models.SpeechModel(**{**vars(spec), "files": changed}))
    with pytest.raises(MissingAsset, match="force-reinstall"):
        speech_models.speech_model_folder()
    with pytest.raises(KeyError, match="choose one of whisper-tiny.en"):
        speech_models.get_speech_model_spec("whisper-huge")


def test_whisper_transcribes_a_us_digit_and_gives_encoder_frames():
    import ctranslate2
    model = speech_models.load_speech_model(device="cpu", threads=1)
    clip = audio_data.load_clips("us", "valid", per_class=1).audio[3]  # "three"
    segments, _ = model.transcribe(clip, language="en", beam_size=1, without_timestamps=True)
    text = " ".join(s.text for s in segments).lower()
    assert "three" in text or "3" in text, text
    features = model.feature_extractor(clip)[None]
    frames = np.array(model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features))))
    assert frames.shape == (1, features.shape[2] // 2, 384)


def test_an_unknown_or_unsupported_language_code_is_refused_naming_the_fix():
    from tlcourse.speech import transcribe
    model = speech_models.load_speech_model(device="cpu", threads=1)
    clip = audio_data.load_clips("us", "valid", per_class=1).audio[3]
    with pytest.raises(DataError, match="not a language code Whisper knows"):
        transcribe(model, clip, language="xx")
    with pytest.raises(DataError, match="English only"):
        transcribe(model, clip, language="cy")
    assert transcribe(model, clip, language="en")


def test_transcripts_are_normalised_to_digit_words():
    from tlcourse.speech import normalise
    assert normalise("0, 3, 8.") == "zero three eight"
    assert normalise(" Three.") == "three" and normalise("30") == "three zero" and normalise("") == ""


def test_digit_strings_say_each_digit_once_per_held_out_voice_in_a_seeded_order():
    from tlcourse.speech import digit_strings
    strings = digit_strings("scotland", seed=0)
    assert len(strings) == len(prepare.SPOKEN_DIGIT_HELD_OUT) * len(prepare.SPOKEN_DIGIT_SPEEDS)
    for audio, said in strings:
        assert sorted(said.split()) == sorted(prepare.SPOKEN_DIGIT_WORDS["en"]) and audio.ndim == 1
    assert [s for _, s in digit_strings("scotland", seed=0)] == [s for _, s in strings]
    assert [s for _, s in digit_strings("scotland", seed=1)] != [s for _, s in strings]


def test_word_error_rates_add_up_errors_over_words():
    from tlcourse.speech import Transcripts, Words
    transcripts = Transcripts([{"domain": "us", "reference": "one two", "transcript": "1 2", "errors": 0, "words": 2},
                               {"domain": "us", "reference": "three", "transcript": "tree", "errors": 1, "words": 1},
                               {"domain": "welsh", "reference": "one", "transcript": "a b c", "errors": 3,
                                "words": 1}])
    assert transcripts.error_rate("us") == round(1 / 3, 3) and transcripts.error_rate("welsh") == 3.0
    words = Words([{"domain": "us", "said": "one", "transcript": "One.", "correct": True},
                   {"domain": "us", "said": "two", "transcript": "Cool.", "correct": False}])
    assert words.accuracy("us") == 0.5 and len(words.examples("us")) == 2


@pytest.fixture(scope="module")
def whisper():
    return speech_models.load_speech_model(device="cpu", threads=1)


def test_encoder_vectors_are_one_per_clip_and_cached(whisper):
    from tlcourse import speech
    clips = audio_data.load_clips("us", "valid", per_class=1)
    vectors = speech.encoder_vectors(whisper, clips)
    assert vectors.shape == (10, 384) and np.isfinite(vectors).all()
    from types import SimpleNamespace
    stand_in = SimpleNamespace(registry_name="whisper-tiny.en", model=SimpleNamespace(
        device=whisper.model.device, compute_type=whisper.model.compute_type))  # cannot encode: must hit the cache
    assert np.array_equal(speech.encoder_vectors(stand_in, clips), vectors)
    with pytest.raises(DataError, match="load_speech_model"):
        speech.encoder_vectors(SimpleNamespace(), clips)
    long = audio_data.Clips("us", [np.full(3 * audio_data.SAMPLE_RATE, 0.1, np.float32)], ["1"], ["x.wav"])
    with pytest.raises(DataError, match="longer than the 2 s window"):
        speech.encoder_vectors(whisper, long)
    with pytest.raises(DataError, match="No clips"):
        speech.encoder_vectors(whisper, audio_data.Clips("us", [], [], []))


def test_a_small_few_shot_study_scores_every_domain_with_both_features(whisper):
    from tlcourse import speech
    study = speech.few_shot_study(whisper, speech.SpeechPlan(shots=(1,), seeds=2, word_speeds=(140,)), seed=0)
    for features in (speech.ENCODER, speech.LOG_MEL):
        assert all(0 <= study.accuracy(d, 0, features) <= 1 for d in speech.DOMAINS)
        assert len(study.accuracies("welsh", 1, features)) == 2
    table = study.table()
    assert list(table.columns) == [0, 1] and len(table) == 2 * len(speech.DOMAINS)
    with pytest.raises(DataError, match="keep shots <= 12"):
        speech.few_shot_study(whisper, speech.SpeechPlan(shots=(13,), seeds=1, word_speeds=(140,)), seed=0)
    from tlcourse.plots import plot_speech
    words = speech.Words([{"domain": d, "said": "one", "transcript": "one", "correct": True} for d in speech.DOMAINS])
    strings = speech.Transcripts([{"domain": d, "reference": "one", "transcript": "one", "errors": 0, "words": 1}
                                  for d in speech.DOMAINS])
    assert len(plot_speech(words, strings, study).axes) == 2


class _FixedTranscripts:
    """A stand-in model that writes the same text for every clip."""

    def __init__(self, text):
        self.text = text

    def transcribe(self, audio, **options):
        from types import SimpleNamespace
        return [SimpleNamespace(text=self.text)], None


def test_word_errors_count_against_the_words_said_in_the_domains_language():
    from tlcourse import speech
    said = speech.digit_strings("welsh", seed=0)[0][1]
    right = speech.transcription_errors(_FixedTranscripts(said.title() + "."), domains=("welsh",), seed=0)
    assert right.rows[0]["errors"] == 0 and all(r["words"] == 10 for r in right.rows)  # right for the first string
    assert all(r["errors"] > 0 for r in right.rows[1:])  # the others say the digits in other orders
    english = " ".join(prepare.SPOKEN_DIGIT_WORDS["en"])
    wrong = speech.transcription_errors(_FixedTranscripts(english), domains=("welsh",), seed=0)
    assert wrong.error_rate("welsh") == 1.0  # ten English words for ten Welsh ones: ten substitutions a string


def test_a_single_digit_is_right_only_as_its_word_or_numeral():
    from tlcourse import speech
    for text, right in (("Three.", True), ("3", True), ("Tree.", False), ("", False)):
        words = speech.single_words(_FixedTranscripts(text), domains=("us",), speeds=(140,))
        assert sum(r["correct"] for r in words.rows) == (2 if right else 0), text  # the two held-out voices


def test_another_espeak_build_still_gives_clips_and_says_so(tmp_path, monkeypatch, capsys, needs_debian):
    needs_debian("espeak-ng")
    rows = prepare.read_manifest("spoken_digits")[:3]
    command, environment, _ = prepare._espeak()
    louder = [*command, "-a", "90"]  # another build: other bytes than the manifest's
    monkeypatch.setattr(prepare, "_espeak", lambda: (louder, environment, False))
    prepare._write_spoken_digits(rows, tmp_path)  # yet no error
    assert all((tmp_path / r["file"]).is_file() for r in rows)
    assert "not Debian's espeak-ng 1.51+dfsg-10+deb12u2" in capsys.readouterr().out
    monkeypatch.setattr(prepare, "_espeak", lambda: (louder, environment, True))  # the pinned build must match
    with pytest.raises(MissingAsset, match="differs from the manifest.*run `make data`"):
        prepare._write_spoken_digits(rows, tmp_path)


def test_real_read_speech_loads_with_its_transcripts_and_is_scored_against_them():
    from tlcourse import speech
    clips = audio_data.load_read_speech()
    assert len(clips) == 5 and all(2.5 < len(a) / audio_data.SAMPLE_RATE < 8 for a in clips.audio)
    assert clips.labels[1] == "he was not an ill disposed young man"

    class Echo:
        """Writes, for each clip, the transcript of the clip of the same length: a perfect transcriber."""

        def transcribe(self, audio, **options):
            from types import SimpleNamespace
            said = clips.labels[[len(a) for a in clips.audio].index(len(audio))]
            return [SimpleNamespace(text=said.capitalize() + ".")], None
    assert speech.read_speech_errors(Echo()).error_rate("read_speech") == 0.0
    assert speech.read_speech_errors(_FixedTranscripts("nothing like it")).error_rate("read_speech") > 0.9
