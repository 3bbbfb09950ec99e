"""Fuzz targets: each takes bytes or text from Hypothesis and may only return
normally or raise the module's own one-line error, never anything else.

Used by tests/test_fuzz.py (a short run in the suite) and scripts/fuzz.py (a
long run). Seeds are small valid files of each kind, so mutations reach deep
into the parsers instead of failing at the first byte.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from imgtrans import names
from imgtrans.checkpoints import weights
from imgtrans.io import imageio
from imgtrans.training import config as train_config
from imgtrans.training.data import DatasetError, read_idx


def _image_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    seeds = []
    for fmt, mode in (("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "I;16"),
                      ("WEBP", "RGB"), ("PPM", "RGB"), ("ICO", "RGBA"), ("TGA", "RGB")):
        pixels = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
        image = Image.fromarray(pixels, "RGBA").convert(mode if mode != "I;16" else "I")
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        seeds.append(buffer.getvalue())
    return seeds


def _safetensors_seed() -> bytes:
    import torch

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seed.safetensors"
        metadata = weights.make_metadata(name="seed", family="cyclegan", config={"ngf": 8}, preprocess={},
                                         labels=("a", "b"))
        weights.save(path, {"G.w": torch.zeros(2, 3)}, metadata)
        return path.read_bytes()


def _video_seeds() -> list[bytes]:
    """Four-frame 16x12 clips: x264 in MP4 and Matroska, VP9 in WebM, MPEG-4
    part 2 in AVI, Motion JPEG in QuickTime, and an animated GIF."""
    import av

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(4)]
    seeds = []
    for fmt, codec, pix_fmt in (
        ("mp4", "libx264", "yuv420p"),
        ("matroska", "libx264", "yuv420p"),
        ("webm", "libvpx-vp9", "yuv420p"),
        ("avi", "mpeg4", "yuv420p"),
        ("mov", "mjpeg", "yuvj420p"),
    ):
        buffer = io.BytesIO()
        with av.open(buffer, "w", format=fmt) as out:
            stream = out.add_stream(codec, rate=5)
            stream.width, stream.height, stream.pix_fmt = 16, 12, pix_fmt
            for i, pixels in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        seeds.append(buffer.getvalue())
    gif = [Image.fromarray(pixels).quantize(16) for pixels in frames]
    buffer = io.BytesIO()
    gif[0].save(buffer, "GIF", save_all=True, append_images=gif[1:], duration=200)
    return [*seeds, buffer.getvalue()]


def _idx_seed() -> bytes:
    return struct.pack(">HBBIII", 0, 8, 3, 2, 3, 3) + bytes(range(18))


SEEDS = {
    "image": _image_seeds(),
    "safetensors": [_safetensors_seed()],
    "idx": [_idx_seed(), gzip.compress(_idx_seed())],
    "video": _video_seeds(),
}
VIDEO_SUFFIXES = [".mp4", ".mkv", ".webm", ".avi", ".mov", ".gif"]


@st.composite
def mutated(draw, kind: str) -> bytes:
    """A seed file with flipped bytes, a truncation or an insertion, or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=512))
    data = bytearray(draw(st.sampled_from(SEEDS[kind])))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.integers(0, 2))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == 0 and data:
            data[position] = draw(st.integers(0, 255))
        elif action == 1:
            del data[position:]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


def decode_image(data: bytes) -> None:
    try:
        picture = imageio.decode(data, channels=3, max_pixels=1 << 20)
    except imageio.ImageError as error:
        assert "\n" not in str(error)
        return
    assert picture.pixels.dtype == np.uint8 and picture.pixels.shape[2] == 3


def _jpeg_seed(progressive: bool) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
        buffer, "JPEG", progressive=progressive)
    return buffer.getvalue()


JPEG_SEEDS = {False: _jpeg_seed(False), True: _jpeg_seed(True)}


def decode_declared_size(width: int, height: int, progressive: bool) -> None:
    """A small JPEG whose frame header declares another size (libjpeg fills
    what its data lacks with grey): refused, or decoded at that size, never
    at more pixels than its bytes can hold (one bit per 8x8 block)."""
    data = bytearray(JPEG_SEEDS[progressive])
    frame = data.find(b"\xff\xc2" if progressive else b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    try:
        picture = imageio.decode(bytes(data), channels=3, max_pixels=1 << 22)
    except imageio.ImageError as error:
        assert "\n" not in str(error)
        return
    assert picture.size == (width, height) and -(-width // 8) * -(-height // 8) <= len(data) * 8


def read_weights(data: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as fh:
        fh.write(data)
        fh.flush()
        try:
            weights.read_info(Path(fh.name))
        except weights.WeightsError:
            return


def read_idx_file(data: bytes, gz: bool) -> None:
    with tempfile.NamedTemporaryFile(suffix=".gz" if gz else "") as fh:
        fh.write(data)
        fh.flush()
        try:
            array = read_idx(Path(fh.name))
        except DatasetError:
            return
        assert array.dtype == np.uint8


def read_config(text: str, family_config: type) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", encoding="utf-8", errors="surrogatepass") as fh:
        try:
            fh.write(text)
            fh.flush()
        except UnicodeEncodeError:
            return
        try:
            values = train_config.load_toml(Path(fh.name))
            train_config.build(family_config, {k: v for k, v in values.items() if k not in ("plugin", "data", "name")})
        except train_config.ConfigError:
            return


def check_name(text: str) -> None:
    try:
        name = names.check_component(text, "name")
    except names.UnsafeNameError as error:
        assert "\n" not in str(error) and "\x1b" not in str(error)
        return
    assert "/" not in name and "\\" not in name and "\x00" not in name and name not in (".", "..")
    folder = Path(tempfile.gettempdir()) / "imgtrans-fuzz-root"
    names.inside(folder / name, folder, "name")
    assert os.path.dirname(os.path.normpath(folder / name)) == os.path.normpath(folder)


@functools.cache
def _tiny_translator():
    """A width-8 CycleGAN generator with random weights, loaded as users load
    models (instance norm, so the video's first pass runs too)."""
    import torch

    import imgtrans
    from imgtrans.spec import Preprocess

    family = imgtrans.Registry.from_plugin_manager(imgtrans.make_plugin_manager()).family("cyclegan")
    config = family.make_config({"ngf": 8, "netG": "resnet_6blocks"})
    torch.manual_seed(0)
    net = family.build_generator(config)
    path = Path(tempfile.mkdtemp(prefix="imgtrans-fuzz-")) / "tiny.safetensors"
    metadata = weights.make_metadata(name="tiny", family="cyclegan", config=dataclasses.asdict(config),
                                     preprocess=Preprocess().to_dict())
    weights.save(path, {"G." + key: tensor for key, tensor in net.state_dict().items()}, metadata)
    return imgtrans.load(path, device="cpu", precision="fp32")


def translate_video_file(data: bytes, suffix: str) -> None:
    """Any bytes under any video name: a translated video of at least one
    frame, or one VideoError line and no file, within a time limit (a hang
    fails)."""
    import signal

    from imgtrans.io.video import VideoError, translate_video

    def hang(signum, frame):
        raise TimeoutError("translate_video took over 60 s")

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / f"in{suffix}", Path(folder) / f"out{suffix}"
        source.write_bytes(data)
        previous = signal.signal(signal.SIGALRM, hang)
        signal.alarm(60)
        try:
            result = translate_video(_tiny_translator(), source, target)
        except VideoError as error:
            assert "\n" not in str(error)
            assert sorted(p.name for p in Path(folder).iterdir()) == [source.name]
            return
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        assert result.frames > 0 and target.stat().st_size > 0
