"""Video in, video out: frames, rate, size and audio kept; statistics shared
across frames; cuts start afresh; bad videos fail alone. Tiny real clips made
with PyAV."""

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import random_image
from PIL import Image

import imgtrans
from imgtrans.io.temporal import ShotWindow
from imgtrans.io.video import translate_video

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10, audio: bool = True, codec: str = "libx264") -> Path:
    """Lossless x264 4:4:4 with an AAC tone by default; another codec in 4:2:0."""
    out = av.open(str(path), "w")
    video = out.add_stream(codec, rate=fps)
    video.height, video.width = frames[0].shape[:2]
    if codec == "libx264":
        video.pix_fmt, video.options = "yuv444p", {"crf": "0"}
    else:
        video.pix_fmt = "yuv420p"
    sound = None
    if audio:
        sound = out.add_stream("aac", rate=8000)
        sound.layout = "mono"
    for i, pixels in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        frame.pts = i
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    if sound is not None:
        samples = (np.sin(np.arange(800 * len(frames)) / 8000 * 2 * np.pi * 440) * 0.3).astype(np.float32)[None]
        chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 8000, 0
        for packet in sound.encode(chunk):
            out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    out.close()
    return path


def read_clip(path: Path) -> tuple[list[np.ndarray], Fraction, list[bytes]]:
    """Decoded frames, the frame rate, and the audio packets' bytes."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        rate = stream.average_rate
    with av.open(str(path)) as container:
        audio = (
            [bytes(p) for p in container.demux(*container.streams.audio) if p.size] if container.streams.audio else []
        )
    return frames, rate, audio


def pan(n=12, size=(48, 40), step=2, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0] * 2]
    scene = (np.stack([xx * 2, yy * 4, 255 - xx], 2) % 256).astype(np.uint8)
    scene = np.clip(scene.astype(int) + rng.integers(-20, 20, scene.shape), 0, 255).astype(np.uint8)
    return [scene[:, i * step : i * step + size[0]] for i in range(n)]


def test_frames_rate_size_and_audio_are_kept(cli, tmp_path, tiny_cyclegan):
    write_clip(tmp_path / "clip.mp4", pan())
    random_image(tmp_path / "photo.png")
    result = cli("run", tiny_cyclegan, "clip.mp4", "photo.png", "-o", "out", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["clip.mp4"]["frames"] == 12 and rows["photo.png"]["status"] == "ok"
    frames, rate, audio = read_clip(tmp_path / "out" / "clip.mp4")
    _, rate_in, audio_in = read_clip(tmp_path / "clip.mp4")
    assert len(frames) == 12 and rate == rate_in == 10 and frames[0].shape == (40, 48, 3)
    assert audio == audio_in and len(audio) > 0  # copied packet for packet
    for ext in ("webm", "mkv", "gif"):
        converted = cli("run", tiny_cyclegan, "clip.mp4", "-o", ext, "--ext", ext, "--quiet")
        assert converted.exit_code == 0, (ext, converted.stderr)
        frames_out, _, audio_out = read_clip(tmp_path / ext / f"clip.{ext}")
        assert len(frames_out) == 12 and (len(audio_out) > 0) == (ext != "gif")  # WebM: AAC re-encoded as Opus


def test_shared_statistics_keep_the_background_steady(tmp_path):
    """A still background with a bright square moving across it: per-frame
    statistics change the background's tone as the square moves; shared ones
    hold it."""
    background = np.tile(np.linspace(60, 140, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    frames = []
    for i in range(10):
        frame = background.copy()
        frame[8:24, 4 + 4 * i : 20 + 4 * i + (10 * i if i > 5 else 0)] = 255  # moves, and grows
        frames.append(frame)
    write_clip(tmp_path / "square.mp4", frames, audio=False)
    model = imgtrans.load("vintage", device="cpu", precision="fp32")
    tone = {}
    for shared in (True, False):
        out = tmp_path / f"{shared}.mp4"
        translate_video(model, tmp_path / "square.mp4", out, crf=0, stats_window=0.5 if shared else None)
        decoded = read_clip(out)[0]
        tone[shared] = np.array([f[30:, :, :].astype(float).mean() for f in decoded])  # rows the square never visits
    jumps = {k: np.abs(np.diff(v)).mean() for k, v in tone.items()}
    assert jumps[True] < 0.5 * jumps[False], jumps


def test_a_cut_starts_the_statistics_afresh(tmp_path):
    first, second = pan(8, seed=1), [255 - f for f in pan(8, step=3, seed=2)]
    write_clip(tmp_path / "cut.mp4", first + second, audio=False)
    write_clip(tmp_path / "second.mp4", second, audio=False)
    model = imgtrans.load("vintage", device="cpu", precision="fp32")
    result = translate_video(model, tmp_path / "cut.mp4", tmp_path / "cut-out.mp4", crf=0)
    assert result.cuts == 1
    translate_video(model, tmp_path / "second.mp4", tmp_path / "second-out.mp4", crf=0)
    together, alone = read_clip(tmp_path / "cut-out.mp4")[0][8:], read_clip(tmp_path / "second-out.mp4")[0]
    assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(together, alone)) < 1.0


def test_bad_videos_fail_alone_and_leave_nothing(cli, tmp_path, tiny_cyclegan):
    good = write_clip(tmp_path / "good.mp4", pan(6))
    (tmp_path / "garbage.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 500)
    data = good.read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 3])
    silent = av.open(str(tmp_path / "soundonly.mp4"), "w")  # audio, no video stream
    stream = silent.add_stream("aac", rate=8000)
    stream.layout = "mono"
    chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    chunk.sample_rate, chunk.pts = 8000, 0
    for packet in list(stream.encode(chunk)) + list(stream.encode()):
        silent.mux(packet)
    silent.close()
    empty = av.open(str(tmp_path / "noframes.mp4"), "w")  # a video stream without frames
    empty_stream = empty.add_stream("libx264", rate=10)
    empty_stream.width, empty_stream.height = 32, 32
    empty.close()
    write_clip(tmp_path / "odd.avi", pan(3, size=(32, 32)), audio=False, codec="mpeg4")  # FourCC changed below
    odd_bytes = (tmp_path / "odd.avi").read_bytes()
    assert odd_bytes.count(b"FMP4") == 2
    (tmp_path / "odd.avi").write_bytes(odd_bytes.replace(b"FMP4", b"QQZ9"))
    tags = av.open(str(tmp_path / "tags.mkv"), "w")  # a stream title that is not UTF-8 (found by fuzzing)
    tag_stream = tags.add_stream("libx264", rate=10)
    tag_stream.width, tag_stream.height, tag_stream.pix_fmt = 32, 32, "yuv420p"
    tag_stream.metadata["title"] = "QQQQ"
    for packet in [*tag_stream.encode(av.VideoFrame.from_ndarray(pan(1, size=(32, 32))[0], format="rgb24")),
                   *tag_stream.encode()]:
        tags.mux(packet)
    tags.close()
    (tmp_path / "tags.mkv").write_bytes((tmp_path / "tags.mkv").read_bytes().replace(b"QQQQ", b"\x80\x81\x82\x83"))
    (tmp_path / "list.mkv").write_text("ffconcat version 1.0\nfile good.mp4\n")  # FFmpeg would play good.mp4
    names = ["garbage.mp4", "truncated.mp4", "soundonly.mp4", "noframes.mp4", "odd.avi", "tags.mkv", "list.mkv",
             "good.mp4"]
    result = cli("run", tiny_cyclegan, *names, "-o", "out", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    rows = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["good.mp4"]["status"] == "ok" and rows["good.mp4"]["frames"] == 6
    for name in names[:-1]:
        assert rows[name]["status"] == "error", rows[name]
        assert not (tmp_path / "out" / name).exists()
    assert "no video stream" in rows["soundonly.mp4"]["error"]
    assert "codec is not supported" in rows["odd.avi"]["error"]
    assert "metadata is not valid UTF-8" in rows["tags.mkv"]["error"]
    assert "not an MP4, MOV, MKV, WebM, AVI or GIF container" in rows["list.mkv"]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.mp4"]  # no temporary files left


def test_frames_over_the_pixel_limit_are_refused_before_decoding(cli, tmp_path, tiny_cyclegan):
    """A few hundred kilobytes of video can declare frames of hundreds of
    megabytes each; the pictures' --max-pixels guard covers video frames."""
    write_clip(tmp_path / "clip.mp4", pan(4, size=(48, 40)), audio=False)
    random_image(tmp_path / "small.png", size=(20, 20))
    result = cli("run", tiny_cyclegan, "clip.mp4", "small.png", "-o", "out", "--max-pixels", "1000")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "clip.mp4: its frames (48x40) are over the limit of 1000 pixels" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small.png"]
    model = imgtrans.load(tiny_cyclegan)
    assert model.translate_video(tmp_path / "clip.mp4", tmp_path / "whole.mp4", max_pixels=1920).frames == 4


@pytest.mark.slow
def test_a_failed_write_leaves_nothing_and_the_others_finish(tiny_cyclegan, tmp_path):
    """The disk filling up while a video is written (a file-size limit here:
    writes past it fail with EFBIG as they would with ENOSPC)."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(12)]
    write_clip(tmp_path / "noise.mp4", noise, audio=False)
    random_image(tmp_path / "small.png", size=(16, 16))

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    result = subprocess.run(
        [sys.executable, "-m", "imgtrans", "run", tiny_cyclegan, "noise.mp4", "small.png", "-o", "out", "--crf", "0"],
        cwd=tmp_path,
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "noise.mp4: cannot write" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small.png"]  # nothing half-written, no temp file


def test_a_clip_does_not_leak_into_other_calls():
    """Imposed statistics apply only inside one locked call: a picture
    translated between two batches of a clip gets its own statistics."""
    model = imgtrans.load("vintage", device="cpu", precision="fp32")
    picture = pan(1, seed=5)[0]
    alone = model(picture)
    frames = pan(3)
    statistics = model.frame_statistics(frames)
    assert len(statistics) == 3 and all(len(s) == 23 for s in statistics)  # ResNet-9's 23 instance norms
    imposed = model.translate_frames(frames, statistics=statistics[:1] * 3)
    assert np.array_equal(model(picture), alone)
    # frames given their own statistics translate as they do alone; the first frame's change the others
    own = model.translate_frames(frames, statistics=statistics)
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(own, model.translate_frames(frames)))
    assert (
        np.array_equal(imposed[0], model.translate_frames(frames[:1])[0])
        and not np.array_equal(imposed[2], model.translate_frames(frames[2:])[0])
    )


def stats(value: float) -> dict:
    return {1: (torch.full((2,), value, dtype=torch.float64), torch.full((2,), value**2 + 1, dtype=torch.float64))}


def test_the_window_weighs_its_shot_only_and_forgets():
    window = ShotWindow(sigma_frames=2.0)  # stride 1, reach 6
    assert (window.stride, window.reach) == (1, 6)
    for frame in range(20):
        shot = 0 if frame < 10 else 10
        window.add(frame, shot, stats(float(frame)))
    mean, square = window.at(5, 0)[1]
    weights = np.exp(-0.5 * ((np.arange(10) - 5) / 2.0) ** 2)
    assert np.isclose(mean[0].item(), (weights * np.arange(10)).sum() / weights.sum())
    near_end = np.exp(-0.5 * ((np.arange(3, 10) - 9) / 2.0) ** 2)  # frames 3..9: within reach, before the cut
    assert np.isclose(window.at(9, 0)[1][0][0].item(), near_end @ np.arange(3, 10) / near_end.sum())
    assert window.at(10, 10)[1][0][0].item() >= 10  # after the cut: the second shot's frames only
    window.forget(15)
    with pytest.raises(LookupError):
        window.at(2, 0)
    assert window.at(15, 10)[1][0][0].item() > 10


@pytest.mark.slow
def test_held_statistics_make_a_pan_move_exactly(tmp_path):
    """An 8 px pan (a multiple of the ResNet's stride 4) with the statistics
    held for the whole shot: away from the frame edges (88 px, the receptive
    field) the output moves exactly with the input; per-frame statistics make
    it flicker there."""
    rng = np.random.default_rng(3)
    scene = np.clip(np.asarray(Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((320, 192)), int)
                    + rng.integers(-8, 8, (192, 320, 3)), 0, 255).astype(np.uint8)
    write_clip(tmp_path / "pan.mp4", [scene[:, 8 * i : 8 * i + 256] for i in range(6)], audio=False)
    model = imgtrans.load("vintage", device="cpu", precision="fp32")
    error = {}
    for window in (1000.0, None):
        translate_video(model, tmp_path / "pan.mp4", tmp_path / f"{window}.mp4", crf=0, stats_window=window)
        frames = [f.astype(int) for f in read_clip(tmp_path / f"{window}.mp4")[0]]
        error[window] = np.mean(
            [np.abs(b[88:104, 88:160] - a[88:104, 96:168]).mean() for a, b in zip(frames, frames[1:])]
        )
    assert error[1000.0] < 0.1 < error[None], error



@pytest.mark.parametrize("degrees, hflip, shown, not_shown", [
    (90, False, lambda p: np.rot90(p, 1), lambda p: np.rot90(p, -1)),  # a quarter turn counter-clockwise
    (180, False, lambda p: p[::-1, ::-1], lambda p: p),
    (0, True, lambda p: p[:, ::-1], lambda p: p),  # mirrored (some front cameras)
])
def test_a_rotated_phone_video_comes_out_upright(cli, tmp_path, tiny_cyclegan, degrees, hflip, shown, not_shown):
    """A display matrix (a phone held upright records sideways and says so)
    was ignored: the output came out sideways, exit 0, without a word. It is
    applied as FFmpeg's player does (its autorotate)."""
    coded = [np.ascontiguousarray(np.rot90(frame, -1)) for frame in pan(6, size=(33, 47))]  # stored 47 wide, 33 high
    out = av.open(str(tmp_path / "phone.mp4"), "w")
    stream = out.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt, stream.options = 47, 33, "yuv444p", {"crf": "0"}
    stream.set_display_rotation(degrees, hflip=hflip)
    for i, pixels in enumerate(coded):
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    result = cli("run", tiny_cyclegan, "phone.mp4", "-o", "out", "--per-frame-stats", "--crf", "0")
    assert result.exit_code == 0, result.stderr
    frames, _, _ = read_clip(tmp_path / "out" / "phone.mp4")
    model = imgtrans.load(tiny_cyclegan, device="cpu")
    upright = [np.ascontiguousarray(shown(f)) for f in coded]
    wrong = [np.ascontiguousarray(not_shown(f)) for f in coded]  # same size, other content
    assert frames[0].shape == upright[0].shape  # odd sizes: written 4:4:4, nearly lossless at CRF 0
    right_error = np.abs(np.stack(frames).astype(int) - np.stack(model.translate_frames(upright))).mean()
    wrong_error = np.abs(np.stack(frames).astype(int) - np.stack(model.translate_frames(wrong))).mean()
    assert right_error < 6 and wrong_error > 4 * right_error, (right_error, wrong_error)
    with av.open(str(tmp_path / "out" / "phone.mp4")) as written:  # stored upright: nothing left to apply
        assert not next(written.decode(video=0)).rotation


def test_audio_the_container_cannot_hold_is_re_encoded(cli, tmp_path, tiny_cyclegan):
    """Opus in MOV is refused only when the header is written: it was reported
    as a corrupt video."""
    out = av.open(str(tmp_path / "opus.mkv"), "w")
    video = out.add_stream("libx264", rate=10)
    video.width, video.height, video.pix_fmt = 48, 32, "yuv420p"
    sound = out.add_stream("libopus", rate=48000)
    sound.layout = "mono"
    for i, pixels in enumerate(pan(4, size=(48, 32))):
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        frame.pts = i
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    tone = av.AudioFrame.from_ndarray(np.zeros((1, 19200), np.float32), format="fltp", layout="mono")
    tone.sample_rate, tone.pts = 48000, 0
    for packet in [*sound.encode(tone), *sound.encode()]:
        out.mux(packet)
    out.close()
    result = cli("run", tiny_cyclegan, "opus.mkv", "-o", "out", "--ext", "mov")
    assert result.exit_code == 0, result.stderr
    with av.open(str(tmp_path / "out" / "opus.mov")) as written:
        assert [s.codec_context.name for s in written.streams.audio] == ["aac"]
        assert len(list(written.decode(video=0))) == 4


@pytest.mark.slow
def test_a_signal_mid_video_leaves_no_temporary_file(tmp_path, tiny_cyclegan):
    """SIGTERM killed the process mid-video and left `.imgtrans-*.part`, a
    partial video, in the output folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(0)
    write_clip(tmp_path / "long.mp4", [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(60)])
    random_image(tmp_path / "photo.png")
    command = [sys.executable, "-m", "imgtrans", "run", tiny_cyclegan, "photo.png", "long.mp4", "-o", "out"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".part") and p.stat().st_size for p in (tmp_path / "out").glob(".imgtrans-*")):
        assert process.poll() is None and time.monotonic() < deadline, "the video never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in err, err
    [line] = [line for line in err.splitlines() if "error:" in line]
    assert "interrupted by SIGTERM: 1 translated, 1 not done" in line
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photo.png"]
    again = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert again.returncode == 0 and "skipped photo.png" in again.stderr, again.stderr
    assert len(read_clip(tmp_path / "out" / "long.mp4")[0]) == 60
