"""A short fuzzing run over every parser of untrusted input (the long run is
scripts/fuzz.py); crashers it found are pinned as @example regressions."""

import pytest
from fuzz_targets import (
    VIDEO_SUFFIXES,
    check_name,
    decode_image,
    mutated,
    read_config,
    read_idx_file,
    read_weights,
    translate_video_file,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

SHORT = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@SHORT
@given(mutated("image"))
@example(b"")
@example(b"GIF89a" + b"\x00" * 7)
def test_image_decoder(data):
    decode_image(data)


@SHORT
@given(mutated("safetensors"))
@example(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"[" * 16)
@example(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
def test_weights_reader(data):
    read_weights(data)


@SHORT
@given(mutated("idx"), st.booleans())
@example(b"\x00\x00\x08\x00", False)
def test_idx_reader(data, gz):
    read_idx_file(data, gz)


@pytest.fixture(scope="module")
def cyclegan_train_config():
    from imgtrans_cyclegan.hparams import CycleGANTrainConfig

    return CycleGANTrainConfig


@SHORT
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(
    ['lr = ', 'nan', 'inf', '-1', '1e400', '"x"', 'true', 'netG = ', '"resnet_6blocks"', 'max_steps = ', '[a]', '\n',
     'ngf = ', '99999999999999999999', 'epochs = ', '0', 'seed = ', '-5', '{', 'crop_size = ', '"\\u0000"']),
    max_size=12).map("".join)))
def test_config_reader(cyclegan_train_config, text):
    read_config(text, cyclegan_train_config)


@SHORT
@given(st.text(max_size=300))
@example("..")
@example("a/../b")
@example("\x1b[31m")
@example(" lead")
def test_name_validation(text):
    check_name(text)


@SHORT
@given(mutated("video"), st.sampled_from(VIDEO_SUFFIXES))
def test_video_translation(data, suffix):
    translate_video_file(data, suffix)
