"""Write a video decompression bomb: gray frames of SIZE x SIZE that x264
compresses to a few kilobytes each, so a small file declares frames of
hundreds of megabytes. `imgtrans run MODEL bomb.mp4` must refuse it from the
stream header (docs/hostile-input.md); `--max-pixels` raises the limit.

Usage: python scripts/video_bomb.py OUT.mp4 [--size 12000] [--frames 40]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=12000)
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    with av.open(str(args.out), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = args.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "51", "preset": "ultrafast"}
        frame = av.VideoFrame(args.size, args.size, "yuv420p")
        for plane, level in zip(frame.planes, (16, 128, 128)):  # black
            np.frombuffer(plane, np.uint8)[:] = level
        for i in range(args.frames):
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    megabytes = args.size**2 * 3 / 1e6
    print(f"{args.out}: {args.frames} frames of {args.size}x{args.size} ({megabytes:.0f} MB each as RGB) "
          f"in {args.out.stat().st_size / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
