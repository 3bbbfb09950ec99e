"""The long fuzzing run: every target of tests/fuzz_targets.py with many more
examples than the test suite's short run. A failure prints the input that
crashed (add it to tests/test_fuzz.py as an @example).

Usage: python scripts/fuzz.py [--examples 20000] [--target image|jpeg-size|weights|idx|config|names|video]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_targets import (  # noqa: E402
    VIDEO_SUFFIXES,
    check_name,
    decode_declared_size,
    decode_image,
    mutated,
    read_config,
    read_idx_file,
    read_weights,
    translate_video_file,
)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--target", action="append")
    args = parser.parse_args()
    long_run = settings(max_examples=args.examples, deadline=None, suppress_health_check=list(HealthCheck))
    from imgtrans_cyclegan.hparams import CycleGANTrainConfig

    targets = {
        "image": given(mutated("image"))(decode_image),
        "jpeg-size": given(st.integers(1, 65535), st.integers(1, 65535), st.booleans())(decode_declared_size),
        "weights": given(mutated("safetensors"))(read_weights),
        "idx": given(mutated("idx"), st.booleans())(read_idx_file),
        "config": given(st.text(max_size=400))(lambda text: read_config(text, CycleGANTrainConfig)),
        "names": given(st.text(max_size=400))(check_name),
        "video": given(mutated("video"), st.sampled_from(VIDEO_SUFFIXES))(translate_video_file),
    }
    for name in args.target or targets:
        print(f"fuzzing {name} with {args.examples} examples", flush=True)
        long_run(targets[name])()
    print("no crash found")


if __name__ == "__main__":
    main()
