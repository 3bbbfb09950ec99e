"""The files a model card shows beside the weights, from a training run:
NAME.config.toml (the run's resolved recipe), NAME.log.jsonl (its losses,
thinned to every N steps or to each epoch's last step) and NAME-losses.png
(the loss curves over every step).

Usage: python scripts/card_files.py runs/sneaker-boot --name sneaker2boot --every 250 -o weights
       python scripts/card_files.py runs/cgan-digits --name cgan-digits --per-epoch -o weights
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from imgtrans.io.files import write_atomic
from imgtrans.io.imageio import encode
from imgtrans.training.plot import loss_curves
from imgtrans.training.runs import RunDir


def thinned(records: list[dict], every: int | None) -> list[dict]:
    if every:
        kept = [r for r in records if r["step"] % every == 0]
    else:  # the last step of each epoch
        kept = [r for r, after in zip(records, records[1:] + [None]) if after is None or after["epoch"] != r["epoch"]]
    return [{k: round(v, 4) if isinstance(v, float) and k not in ("time", "lr") else v for k, v in r.items()}
            for r in kept]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", required=True)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--every", type=int, help="keep the losses of every N-th step")
    group.add_argument("--per-epoch", action="store_true", help="keep each epoch's last step")
    parser.add_argument("-o", "--out", type=Path, default=Path("weights"))
    args = parser.parse_args()
    run = RunDir(args.run)
    records = run.read_losses()
    if not records:
        raise SystemExit(f"{run.losses}: no losses")
    shutil.copyfile(args.run / "config.toml", args.out / f"{args.name}.config.toml")
    lines = "".join(json.dumps(r) + "\n" for r in thinned(records, args.every))
    write_atomic(args.out / f"{args.name}.log.jsonl", lines.encode(), overwrite=True)
    write_atomic(args.out / f"{args.name}-losses.png", encode(loss_curves(records), None, "png"), overwrite=True)
    print(f"wrote {args.name}.config.toml, {args.name}.log.jsonl, {args.name}-losses.png in {args.out}")


if __name__ == "__main__":
    main()
