"""Flicker of video translation: per-frame statistics (the reference's way)
against statistics shared across frames (imgtrans's default: a Gaussian
window of WINDOW seconds within each shot), with `vintage`.

Clips are made from the example photos with known motion: a pan (8 px a
frame), a zoom (1% a frame about the centre) and a clip with a brightness
ramp and a cut. They are written with x264 CRF 0 in 4:4:4 (lossless after
the RGB-to-YUV rounding), decoded once as every row's input, and translated
with --crf 0, which imgtrans writes as 4:2:0 (what players take):
the chroma subsampling's rounding is in every translated row alike. Figures:

- warping error (Lai et al., ECCV 2018): mean absolute difference between
  output frame t+1 and output frame t moved by the known motion of the input,
  over the region both frames show; the input's own figure is the floor;
- interior warping error: the same over the part of that region at least
  --margin px (default 88, the ResNet's receptive-field radius) from every
  frame edge in both frames, where the network sees the same context in t and
  t+1: what remains there is not the frame edge moving through the content;
- tone flicker: mean absolute change of the mean level of that region;
- fidelity: PSNR of each shared-statistics frame against the per-frame one
  (stability must not be bought by washing the picture out).

For the default window the clip is also translated with every frame's
statistics recorded (the library's parts: frame_statistics, ShotWindow with
stride 1, translate_frames; written like the others), to check that the first
pass's sampling of every stride-th frame costs nothing in stability or
fidelity.

Usage: python benchmarks/video_flicker.py [--frames 48] [--size 320x240] [--fps-sizes 320x240,1280x720]
       [--skip-flicker] [--clips pan,zoom,ramp+cut] [--margin 88] [--window 0.25 --window 0.5 ...] [--strip IMAGE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image
from pixels import psnr

import imgtrans
from imgtrans.io.temporal import DEFAULT_WINDOW, ShotWindow

ROOT = Path(__file__).resolve().parents[1]
STEP = 8
FPS = 24
ZOOM = 1.01


def write(path: Path, frames: list[np.ndarray], fps: int = FPS, pix_fmt: str = "yuv444p") -> Path:
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=fps)
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt, stream.options = pix_fmt, {"crf": "0"}
    for i, pixels in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def read(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]


def photo(name: str, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.open(ROOT / "examples" / name).convert("RGB").resize(size, Image.BICUBIC))


def pan_clip(n: int, w: int, h: int, name: str = "astronaut.jpg") -> list[np.ndarray]:
    scene = photo(name, (w + STEP * n, h))
    return [scene[:, i * STEP : i * STEP + w] for i in range(n)]


def zoom_clip(n: int, w: int, h: int) -> list[np.ndarray]:
    big = Image.fromarray(photo("rocket.jpg", (w * 2, h * 2)))
    frames = []
    for i in range(n):
        scale = ZOOM**i
        cw, ch = w * 2 / scale, h * 2 / scale
        box = (w - cw / 2, h - ch / 2, w + cw / 2, h + ch / 2)
        frames.append(np.asarray(big.resize((w, h), Image.BICUBIC, box=box)))
    return frames


def ramp_and_cut_clip(n: int, w: int, h: int) -> list[np.ndarray]:
    half = n // 2
    first = pan_clip(half, w, h, "coffee.jpg")
    ramp = [np.clip(f.astype(float) * (1.0 - 0.4 * i / half), 0, 255).astype(np.uint8) for i, f in enumerate(first)]
    return ramp + pan_clip(n - half, w, h, "cat.jpg")


def moved(frame: np.ndarray, kind: str, margin: int = 0) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Frame t moved by the clip's known motion, and the region valid in t+1
    (with `margin`: at least that far from the edges of both frames)."""
    h, w = frame.shape[:2]
    if kind == "zoom":
        cw, ch = w / ZOOM, h / ZOOM
        box = (w / 2 - cw / 2, h / 2 - ch / 2, w / 2 + cw / 2, h / 2 + ch / 2)
        zoomed = [np.asarray(Image.fromarray(frame[:, :, c].astype(np.float32), "F")
                             .resize((w, h), Image.BICUBIC, box=box))
                  for c in range(frame.shape[2])]
        edge = max(4, int(np.ceil(margin * ZOOM)))
        return np.stack(zoomed, axis=2), (slice(edge, h - edge), slice(edge, w - edge))
    shifted = np.zeros_like(frame)
    shifted[:, : w - STEP] = frame[:, STEP:]
    return shifted, (slice(margin, h - margin or None), slice(margin, w - STEP - margin))


def flicker(frames: list[np.ndarray], kind: str, skip: set[int] = frozenset(), margin: int = 88) -> dict:
    warp, interior, tone = [], [], []
    for t in range(len(frames) - 1):
        if t in skip:  # the cut itself is not motion
            continue
        current = frames[t + 1].astype(float)
        previous, region = moved(frames[t].astype(float), kind)
        warp.append(np.abs(current[region] - previous[region]).mean())
        tone.append(abs(current[region].mean() - previous[region].mean()))
        _, inner = moved(frames[t].astype(float), kind, margin)
        if current[inner].size:
            interior.append(np.abs(current[inner] - previous[inner]).mean())
    return {"warping_error": round(float(np.mean(warp)), 3),
            "interior_warping_error": round(float(np.mean(interior)), 3) if interior else None,
            "tone_flicker": round(float(np.mean(tone)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--window", type=float, action="append", help="seconds (repeat) [default: 0.25, 0.5, 1]")
    parser.add_argument("--fps-sizes", default="320x240,1280x720")
    parser.add_argument("--out", default="bench-out/video")
    parser.add_argument("--skip-flicker", action="store_true", help="only the frames-per-second part")
    parser.add_argument("--clips", default="pan,zoom,ramp+cut")
    parser.add_argument("--margin", type=int, default=88, help="edge distance for the interior warping error")
    parser.add_argument("--strip",
                        help="PNG or JPEG: four frames of the first clip, input / per-frame / default window")
    args = parser.parse_args()
    w, h = map(int, args.size.split("x"))
    windows = args.window or [0.25, DEFAULT_WINDOW, 1.0]
    model = imgtrans.load("vintage", device="cpu")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        makers = {"pan": pan_clip, "zoom": zoom_clip, "ramp+cut": ramp_and_cut_clip}
        clips = {} if args.skip_flicker else {name: makers[name](args.frames, w, h) for name in args.clips.split(",")}
        for name, frames in clips.items():
            kind = "zoom" if name == "zoom" else "pan"
            source = write(folder / f"{name}.mp4", frames)
            decoded = read(source)
            skip = {args.frames // 2 - 1} if name == "ramp+cut" else set()
            row = {"clip": name, "size": args.size, "input": flicker(decoded, kind, skip, args.margin)}
            per_frame = translate(model, source, folder / "per-frame.mp4", None)[1]
            row["per-frame"] = flicker(per_frame, kind, skip, args.margin)
            for window in windows:
                result, shared = translate(model, source, folder / "shared.mp4", window)
                if args.strip and window == DEFAULT_WINDOW and not rows:
                    save_strip(Path(args.strip), [decoded, per_frame, shared])
                figures = measure(shared, per_frame, kind, skip, args.margin)
                figures["cuts_detected"] = result.cuts
                row[f"window {window} s"] = figures
                if window == DEFAULT_WINDOW:
                    # first frames
                    shots = [0 if not skip or i <= min(skip) else min(skip) + 1 for i in range(len(decoded))]
                    every = read(write(folder / "every.mp4", every_frame_recorded(model, decoded, window * FPS, shots),
                                       pix_fmt="yuv420p"))
                    row[f"window {window} s, every frame recorded"] = measure(every, per_frame, kind, skip, args.margin)
            rows.append(row)
            print(json.dumps(row), flush=True)
        speed = []
        for size in filter(None, args.fps_sizes.split(",")):
            sw, sh = map(int, size.split("x"))
            source = write(folder / f"speed-{size}.mp4", pan_clip(24, sw, sh))
            warm_up = write(folder / f"warm-{size}.mp4", pan_clip(4, sw, sh))  # kernels for this size, untimed
            model.translate_video(warm_up, folder / "warm-out.mp4", overwrite=True)
            for window in (DEFAULT_WINDOW, None):  # the first pass's cost: shared against per-frame
                start = time.perf_counter()
                result = model.translate_video(source, folder / f"speed-{size}-out.mp4", stats_window=window,
                                               overwrite=True)
                speed.append({"size": size, "statistics": f"window {window} s" if window else "per-frame",
                              "frames": result.frames, "fps": round(result.frames / (time.perf_counter() - start), 3),
                              "precision": model.precision})
                print(json.dumps(speed[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "video_flicker.json").write_text(json.dumps({"clips": rows, "speed": speed}, indent=1))


def translate(model, source: Path, target: Path, window: float):
    result = model.translate_video(source, target, crf=0, stats_window=window, overwrite=True)
    return result, read(target)


def measure(frames: list[np.ndarray], per_frame: list[np.ndarray], kind: str, skip: set[int], margin: int) -> dict:
    figures = flicker(frames, kind, skip, margin)
    figures["psnr_vs_per_frame"] = round(float(np.mean([psnr(a, b) for a, b in zip(frames, per_frame)])), 2)
    return figures


def save_strip(path: Path, clips: list[list[np.ndarray]]) -> None:
    """One row per clip, frames 0, 1/3, 2/3 and last side by side."""
    n = len(clips[0])
    picks = [0, n // 3, 2 * n // 3, n - 1]
    Image.fromarray(np.concatenate([np.concatenate([clip[i] for i in picks], axis=1) for clip in clips])).save(
        path, quality=90)


def every_frame_recorded(model, frames: list[np.ndarray], sigma: float, shots: list[int]) -> list[np.ndarray]:
    """The window over every frame's statistics (no sampling), frame by frame;
    `shots`: each frame's shot (its first frame)."""
    window = ShotWindow(sigma, stride=1)
    for i, frame in enumerate(frames):
        window.add(i, shots[i], model.frame_statistics([frame])[0])
    return [model.translate_frames([f], statistics=[window.at(i, shots[i])])[0] for i, f in enumerate(frames)]


if __name__ == "__main__":
    main()
