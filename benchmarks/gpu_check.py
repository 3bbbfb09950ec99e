"""The one prepared GPU check: everything imgtrans should measure on a GPU, in one unattended run.

Run it whenever a GPU is at hand (it aims at under 8 minutes on one H100/H200)
and put its tables in docs/benchmarks.md with the date, card, driver and torch
version it prints. `--dry-run` runs every section on the CPU at small sizes
(a minute or two here) so the script is known to work before GPU time is spent.

Sections (each in its own try: a failure is a row, not the end of the run;
results are written after every section, so a run cut short leaves them):
  environment  card, driver, torch, CUDA, cuDNN, and the peaks: fp32 (TF32 off),
               TF32 and bf16 matrix products, measured in this run
  parity       every shipped translator on the example photos: CUDA fp32 / tf32
               / bf16 / fp16 against CPU fp32 (PSNR, largest difference), and
               streamed against whole on the GPU
  inference    vintage at 512x512, batch 1 and 16: imgtrans's path per
               precision; the bare network per precision, channels_last,
               torch.compile, and CUDA graphs (compile mode reduce-overhead);
               images/s and the fraction of the matching matmul peak
  large        12, 24 and 100 MP pictures: time and peak GPU memory, whole
               (the default budget) and streamed (a 2 GB budget)
  nccl         `torchrun --nproc_per_node N` DDP training over every GPU present
  video        frames/s at 1280x720 and 1920x1080, per-frame and shared
               statistics (needs PyAV; without it only the model's frames/s)
  tests        pytest tests/test_devices.py (its CUDA-only test runs there)
  training     one `imgtrans train` killed after a checkpoint and resumed,
               compared with an uninterrupted run; benchmarks/train_speed.py
               on this device (CycleGAN and pix2pix at 256x256, batch 1 and 4,
               fp32 / bf16 / fp16, workers, compile; needs torchvision)

Running from a checkout that is not pip-installed (a bare GPU machine): the
script puts the checkout and plugins/ on the path and writes an entry-points
file for the built-in plugins into a temporary folder. Missing pure-Python or
binary packages (tomli-w, PyAV) install from wheels in `--wheels DIR`
(`pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d DIR
av tomli-w`); without them the rows that need them say so.

Usage: python benchmarks/gpu_check.py [--dry-run] [--out bench-out/gpu] [--wheels DIR]
       [--sections environment parity ...] [--budget-seconds 470] [--compile/--no-compile]
Writes OUT/gpu_check.json and OUT/gpu_check.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Cheap and essential first: training, the longest, runs last and loses rows, not sections, to the budget.
SECTIONS = ("environment", "parity", "inference", "large", "nccl", "video", "tests", "training")
BUILTIN_PLUGINS = {"cyclegan": "imgtrans_cyclegan", "pix2pix": "imgtrans_pix2pix", "cgan": "imgtrans_cgan"}


# ---------------------------------------------------------------- set-up


def bootstrap(wheels: Path | None, scratch: Path) -> dict[str, str]:
    """Make `import imgtrans` and its plugins work in this process and in the
    subprocesses it starts; install missing packages from local wheels."""
    env = dict(os.environ)
    paths = [str(ROOT), str(ROOT / "plugins")]
    try:
        import importlib.metadata

        found = {ep.name for ep in importlib.metadata.entry_points(group="imgtrans")}
    except Exception:
        found = set()
    if not set(BUILTIN_PLUGINS) <= found:
        site = scratch / "entry-points"
        info = site / "imgtrans_checkout-0.0.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: imgtrans-checkout\nVersion: 0.0.0\n")
        (info / "entry_points.txt").write_text(
            "[imgtrans]\n" + "".join(f"{k} = {v}\n" for k, v in BUILTIN_PLUGINS.items()))
        paths.append(str(site))
    if wheels is not None and wheels.is_dir():
        missing = [name for name, module in (("av", "av"), ("tomli_w", "tomli_w")) if not _importable(module)]
        files = [str(p) for p in wheels.glob("*.whl") if any(p.name.lower().startswith(m) for m in missing)]
        if files:
            target = scratch / "wheels"
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                            "--target", str(target), *files], check=True)
            paths.append(str(target))
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    import importlib

    importlib.invalidate_caches()
    return env


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run(command: list[str], *, timeout: float, **popen) -> subprocess.CompletedProcess:
    """subprocess.run in its own session: at the timeout the whole process
    group goes (a hung torchrun's workers too, which would keep the GPU)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, **popen)
    try:
        out, err = process.communicate(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        err += f"\n(killed after {timeout:.0f} s)"
        process.returncode = -signal.SIGKILL
    return subprocess.CompletedProcess(command, process.returncode, out, err)


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def timed(fn, *, device, repeat: int = 5, warmup: int = 2) -> float:
    """Median seconds of `fn()` after warm-up calls, synchronising CUDA."""
    import torch

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------- sections


def environment(ctx) -> dict:
    import torch

    device = ctx.device
    facts = {"device": str(device), "torch": torch.__version__, "cuda": torch.version.cuda,
             "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
             "python": sys.version.split()[0], "dry_run": ctx.dry_run}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        facts.update(card=props.name, capability=f"{props.major}.{props.minor}",
                     memory_gib=round(props.total_memory / 2**30, 1),
                     multiprocessors=props.multi_processor_count, gpus=torch.cuda.device_count())
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            facts["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            facts["driver"] = None
    n = 1024 if ctx.dry_run else 8192
    peaks = {}
    for label, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                               ("bf16", torch.bfloat16, False)):
        if label == "tf32" and device.type != "cuda":
            continue
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        try:
            seconds = timed(lambda a=a, b=b: a @ b, device=device, repeat=5 if not ctx.dry_run else 2, warmup=2)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
        peaks[label] = round(2 * n**3 / seconds / 1e12, 2)
    facts["matmul_tflops"] = peaks
    ctx.peaks = peaks
    return facts


def shipped_translators():
    import imgtrans

    return [m.name for m in imgtrans.list_models() if m.kind == "translate" and m.weights == "shipped"]


def example_pictures(ctx, channels: int):
    import numpy as np

    from imgtrans.io.imageio import decode

    photos = sorted((ROOT / "examples").glob("*.jpg"))
    pictures = [decode(p.read_bytes(), channels=channels).pixels for p in photos]
    if ctx.dry_run:
        pictures = [p[:96, :128] for p in pictures[:2]]
    return [np.ascontiguousarray(p) for p in pictures]


def parity(ctx) -> list[dict]:
    import numpy as np
    from pixels import psnr

    import imgtrans
    from imgtrans.inference.precision import supported

    rows = []
    for name in shipped_translators():
        reference = imgtrans.load(name, device="cpu", precision="fp32", dropout=False)
        pictures = example_pictures(ctx, reference.channels)
        expected = [reference.translate_arrays([p])[0] for p in pictures]
        for precision in ("fp32", "tf32", "bf16", "fp16"):
            if supported(precision, ctx.device) is not None:
                rows.append({"model": name, "precision": precision, "skipped": supported(precision, ctx.device)})
                continue
            try:
                model = imgtrans.load(name, device=str(ctx.device), precision=precision, dropout=False)
            except imgtrans.ImgtransError as exc:  # refused for this model (measured under 40 dB)
                rows.append({"model": name, "precision": precision, "skipped": str(exc)})
                continue
            got = [model.translate_arrays([p])[0] for p in pictures]
            rows.append({"model": name, "precision": precision, "against": "CPU fp32",
                         "worst_psnr_db": round(min(psnr(a, b) for a, b in zip(got, expected)), 2),
                         "max_difference": int(max(np.abs(a.astype(int) - b).max() for a, b in zip(got, expected)))})
        streamed = imgtrans.load(name, device=str(ctx.device), precision="fp32", dropout=False, max_memory="16MB")
        whole = imgtrans.load(name, device=str(ctx.device), precision="fp32", dropout=False)
        pairs = [(streamed.translate_arrays([p])[0], streamed.streamed_last, whole.translate_arrays([p])[0])
                 for p in pictures]
        rows.append({"model": name, "precision": "fp32", "against": f"whole on {ctx.device.type}",
                     "streamed": all(s for _, s, _ in pairs),
                     "worst_psnr_db": round(min(psnr(a, b) for a, _, b in pairs), 2),
                     "max_difference": int(max(np.abs(a.astype(int) - b).max() for a, _, b in pairs))})
        ctx.progress(f"parity {name}")
    return rows


def vintage_flops(ctx, side: int) -> float:
    """Floating-point operations of one vintage forward pass at side x side."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import imgtrans

    network = imgtrans.load("vintage", device="cpu", precision="fp32", dropout=False).generator
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        network(torch.zeros(1, 3, 64, 64))
    return counter.get_total_flops() * (side / 64) ** 2


def inference(ctx) -> list[dict]:
    import numpy as np
    import torch

    import imgtrans
    from imgtrans.inference.precision import arithmetic, supported

    side = 128 if ctx.dry_run else 512
    batches = (1, 2) if ctx.dry_run else (1, 16)
    flops = vintage_flops(ctx, side)
    peak_of = {"fp32": "fp32", "tf32": "tf32", "bf16": "bf16", "fp16": "bf16"}
    rows = []
    rng = np.random.default_rng(0)
    for precision in ("fp32", "tf32", "bf16", "fp16"):
        if supported(precision, ctx.device) is not None:
            continue
        model = imgtrans.load("vintage", device=str(ctx.device), precision=precision)
        for batch in batches:
            pictures = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(batch)]
            seconds = timed(lambda model=model, pictures=pictures: model.translate_arrays(pictures), device=ctx.device,
                            repeat=3 if ctx.dry_run else 5)
            rows.append(_speed_row("imgtrans path (uint8 in and out, copies included)", precision, batch, side, seconds,
                                   flops, ctx.peaks.get(peak_of[precision])))
        ctx.progress(f"inference {precision}")
    network = imgtrans.load("vintage", device="cpu", precision="fp32", dropout=False).generator.to(ctx.device).eval()
    variants = [("network", "fp32", False, None), ("network", "tf32", False, None), ("network", "bf16", False, None),
                ("network", "fp16", False, None), ("network, channels_last", "bf16", True, None)]
    if ctx.compile:
        variants += [("network, torch.compile", "bf16", True, "default"),
                     ("network, CUDA graphs (compile reduce-overhead)", "bf16", True, "reduce-overhead")]
    for label, precision, channels_last, mode in variants:
        if supported(precision, ctx.device) is not None or (mode == "reduce-overhead" and ctx.device.type != "cuda"):
            continue
        if ctx.deadline.left() < 60:
            rows.append({"path": label, "precision": precision, "skipped": "out of time"})
            continue
        net = network.to(memory_format=torch.channels_last) if channels_last else network
        forward = torch.compile(net, mode=mode) if mode else net
        for batch in batches:
            x = torch.rand(batch, 3, side, side, device=ctx.device)
            if channels_last:
                x = x.to(memory_format=torch.channels_last)

            def call(forward=forward, x=x, precision=precision):
                with torch.inference_mode(), arithmetic(ctx.device, precision):
                    return forward(x)

            start = time.perf_counter()
            call()  # compiles, if compiling
            first = time.perf_counter() - start
            seconds = timed(call, device=ctx.device, repeat=3 if ctx.dry_run else 10)
            row = _speed_row(label, precision, batch, side, seconds, flops, ctx.peaks.get(peak_of[precision]))
            row["first_call_s"] = round(first, 2)
            rows.append(row)
        ctx.progress(f"inference {label} {precision}")
    return rows


def _speed_row(path: str, precision: str, batch: int, side: int, seconds: float, flops: float,
               peak: float | None) -> dict:
    achieved = flops * batch / seconds / 1e12
    return {"path": path, "precision": precision, "batch": batch, "side": side, "ms": round(seconds * 1e3, 2),
            "images_per_s": round(batch / seconds, 1), "tflops": round(achieved, 2),
            "fraction_of_peak": round(achieved / peak, 3) if peak else None}


def large(ctx) -> list[dict]:
    import numpy as np

    import imgtrans
    from imgtrans.inference.memory import read_peak, reset_peak

    sizes = (0.05, 0.2) if ctx.dry_run else (12, 24, 100)
    rows = []
    slow = False
    for megapixels in sizes:
        width = int(math.sqrt(megapixels * 1e6 * 4 / 3))
        height = int(width * 3 / 4)
        picture = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
        small = "32MB" if ctx.dry_run else "2GB"
        for label, budget in (("whole (default budget)", None), (f"streamed ({small} budget)", small)):
            if ctx.deadline.left() < 90 or (slow and budget):
                rows.append({"megapixels": megapixels, "mode": label, "skipped": "out of time" if not slow else
                             "the smaller picture took over a minute streamed"})
                continue
            model = imgtrans.load("vintage", device=str(ctx.device), max_memory=budget)
            reset_peak(ctx.device)
            start = time.perf_counter()
            try:
                model.translate_arrays([picture])
            except Exception as exc:  # out of memory is a finding, not the end of the check
                rows.append({"megapixels": megapixels, "mode": label, "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            seconds = time.perf_counter() - start
            slow = slow or (budget is not None and seconds > 60)
            rows.append({"megapixels": megapixels, "size": f"{width}x{height}", "mode": label,
                         "streamed": model.streamed_last, "precision": model.precision, "seconds": round(seconds, 2),
                         "peak_memory_gib": round(read_peak(ctx.device) / 2**30, 2)})
            ctx.progress(f"large {megapixels} MP {label}")
    return rows


def training(ctx) -> dict:
    device = str(ctx.device)
    results = {"kill and resume": kill_and_resume(ctx)}
    plans = ([("--sizes", "128", "--families", "cyclegan", "--steps", "3", "--warmup", "1", "--precisions", "fp32")]
             if ctx.dry_run else
             [("--sizes", "256", "--steps", "20", "--warmup", "5", *(("--compile",) if ctx.compile else ())),
              ("--sizes", "256", "--steps", "20", "--warmup", "5", "--batch-size", "4", "--precisions", "bf16")])
    for plan in plans:
        if ctx.deadline.left() < 120:
            results[" ".join(plan)] = {"skipped": "out of time"}
            continue
        command = [sys.executable, str(ROOT / "benchmarks" / "train_speed.py"), "--device", device, "--json", *plan]
        done = run(command, env=ctx.env, cwd=ROOT, timeout=max(60, ctx.deadline.left() - 60))
        results[" ".join(plan)] = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-2000:]}
        ctx.progress(f"training {' '.join(plan)}")
    return results


def unpaired_data(root: Path, *, side: int, seed: int, n: int = 8) -> Path:
    """trainA/ and trainB/ of n random side x side pictures: enough for a few training steps."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for folder in ("trainA", "trainB"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / folder / f"{i}.png")
    return root


def kill_and_resume(ctx) -> dict:
    """An uninterrupted run against one killed (SIGKILL) after its first
    checkpoint and resumed: the exported generators compared."""
    import numpy as np
    from safetensors.numpy import load_file

    root = ctx.scratch / "resume"
    data = unpaired_data(root / "data", side=72, seed=0)
    steps, every = (6, 3) if ctx.dry_run else (40, 20)

    def command(name, *extra):
        return [sys.executable, "-m", "imgtrans", "train", "--family", "cyclegan", "--data", str(data), "--name", name,
                "--out", str(root / "runs"), "--device", str(ctx.device), "--netG", "resnet_6blocks", "--ngf", "16",
                "--ndf", "16", "--load-size", "72", "--crop-size", "64", "--max-steps", str(steps), "--save-every",
                str(every), "--sample-every", "100000", "--seed", "0", *extra]

    env = {**ctx.env, "IMGTRANS_HOME": str(root / "home")}
    whole = run(command("whole"), env=env, cwd=root, timeout=240)
    if whole.returncode != 0:
        return {"error": whole.stderr[-1500:]}
    killed = subprocess.Popen(command("killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              cwd=root)
    latest = root / "runs" / "killed" / "checkpoints" / "latest.json"
    start = time.monotonic()
    while killed.poll() is None and time.monotonic() - start < 240 and not latest.is_file():
        time.sleep(0.05)
    if killed.poll() is not None or not latest.is_file():
        killed.kill()
        return {"error": "the run ended (or stalled) before it could be killed after its first checkpoint"}
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    resumed = run([sys.executable, "-m", "imgtrans", "train", "--resume", str(root / "runs" / "killed")],
                  env=env, cwd=root, timeout=240)
    if resumed.returncode != 0:
        return {"error": resumed.stderr[-1500:]}
    final = {}
    for name in ("whole", "killed"):
        folder = root / "runs" / name / "checkpoints"
        stem = json.loads((folder / "latest.json").read_text())["stem"]
        final[name] = (stem, load_file(str(folder / f"{stem}.safetensors")))
    (stem_a, a), (stem_b, b) = final["whole"], final["killed"]
    common = sorted(set(a) & set(b))
    largest = max(float(np.abs(a[k].astype(np.float64) - b[k]).max()) for k in common) if common else None
    return {"checkpoints": [stem_a, stem_b], "tensors": len(common), "bit_identical": largest == 0.0,
            "largest_difference": largest,
            "note": "CUDA kernels (cuDNN's algorithm choice, atomics) need not be deterministic; "
                    "bit-identical resume is guaranteed on the CPU (tests/test_training.py)"}


PROBE = """
import os, torch, torch.distributed as dist
backend = os.environ["PROBE_BACKEND"]
dist.init_process_group(backend)
device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if backend == "nccl" else torch.device("cpu")
x = torch.ones(4, device=device) * (dist.get_rank() + 1)
dist.all_reduce(x)
assert x[0].item() == sum(range(1, dist.get_world_size() + 1)), x
dist.destroy_process_group()
print(f"rank {dist.get_rank() if dist.is_initialized() else os.environ['RANK']}: all_reduce ok")
"""


def nccl(ctx) -> dict:
    """NCCL's init, an all_reduce and teardown in every GPU's process (one GPU
    still exercises them), then imgtrans's DDP training over the same processes."""
    import torch

    backend = "nccl" if ctx.device.type == "cuda" else "gloo"
    processes = max(1, torch.cuda.device_count()) if ctx.device.type == "cuda" else 2
    root = ctx.scratch / "ddp"
    (root / "probe.py").parent.mkdir(parents=True, exist_ok=True)
    (root / "probe.py").write_text(PROBE)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    env = {**ctx.env, "IMGTRANS_HOME": str(root / "home"), "PROBE_BACKEND": backend}
    probe = run([*launch, str(root / "probe.py")], env=env, cwd=root, timeout=180)
    data = unpaired_data(root / "data", side=40, seed=1)
    start = time.perf_counter()
    train = run([*launch, "-m", "imgtrans", "train", "--family", "cyclegan", "--data", str(data), "--name", "ddp",
                 "--out", str(root / "runs"), "--device", ctx.device.type, "--netG", "resnet_6blocks", "--ngf", "8",
                 "--ndf", "8", "--load-size", "36", "--crop-size", "32", "--max-steps", "6", "--save-every", "3",
                 "--sample-every", "3"], env=env, cwd=root, timeout=240)
    return {"processes": processes, "backend": backend, "probe_exit_code": probe.returncode,
            "probe": (probe.stdout + probe.stderr)[-400:],
            "imgtrans_train_exit_code": train.returncode, "train_seconds": round(time.perf_counter() - start, 1),
            "train_group": "DDP" if processes > 1 else "none (one process: WORLD_SIZE 1, imgtrans makes no group)",
            "train_tail": (train.stderr or train.stdout)[-600:]}


def video(ctx) -> list[dict]:
    import numpy as np

    import imgtrans

    model = imgtrans.load("vintage", device=str(ctx.device))
    sizes = ((160, 120),) if ctx.dry_run else ((1280, 720), (1920, 1080))
    frames_n = 8 if ctx.dry_run else 48
    rows = []
    have_av = _importable("av")
    for width, height in sizes:
        frames = [np.roll(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8), 4 * i, axis=1)
                  for i in range(frames_n)]
        if have_av:
            import av

            source = ctx.scratch / f"clip-{width}.mp4"
            with av.open(str(source), "w") as container:
                stream = container.add_stream("libx264", rate=24)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                for frame in frames:
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            model.translate_video(source, ctx.scratch / "warm.mp4", overwrite=True)  # kernels for this size, untimed
            for window, label in ((0.5, "shared (0.5 s window)"), (None, "per-frame")):
                start = time.perf_counter()
                result = model.translate_video(source, ctx.scratch / "out.mp4", stats_window=window, overwrite=True)
                rows.append({"size": f"{width}x{height}", "statistics": label, "frames": result.frames,
                             "fps": round(result.frames / (time.perf_counter() - start), 2),
                             "precision": model.precision,
                             "path": "translate_video (decode, translate, encode)"})
        else:
            model.translate_frames(frames[:4])
            start = time.perf_counter()
            for i in range(0, frames_n, 4):
                model.translate_frames(frames[i:i + 4])
            rows.append({"size": f"{width}x{height}", "statistics": "per-frame", "frames": frames_n,
                         "fps": round(frames_n / (time.perf_counter() - start), 2), "precision": model.precision,
                         "path": "translate_frames only: PyAV is not installed (pass --wheels with its wheel), "
                                 "so decoding and encoding are not measured"})
        ctx.progress(f"video {width}x{height}")
    return rows


def tests(ctx) -> dict:
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_devices.py"],
               env={**ctx.env, "IMGTRANS_HOME": str(ctx.scratch / "home")}, cwd=ROOT, timeout=300)
    return {"exit_code": done.returncode, "tail": done.stdout[-600:]}


# ---------------------------------------------------------------- report


def markdown(results: dict) -> str:
    out = ["# imgtrans GPU check", ""]
    env = results.get("environment", {})
    out.append("```json\n" + json.dumps(env, indent=1) + "\n```\n")
    for section in SECTIONS[1:]:
        value = results.get(section)
        if value is None:
            continue
        out.append(f"## {section}\n")
        if isinstance(value, list) and value and isinstance(value[0], dict):
            keys = list(dict.fromkeys(k for row in value for k in row))
            out.append("| " + " | ".join(keys) + " |")
            out.append("| " + " | ".join("---" for _ in keys) + " |")
            for row in value:
                out.append("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
            out.append("")
        else:
            out.append("```json\n" + json.dumps(value, indent=1) + "\n```\n")
    return "\n".join(out)


class Context:
    def __init__(self, args, env, scratch):
        import torch

        self.dry_run = args.dry_run
        self.device = torch.device("cpu" if args.dry_run else args.device)
        self.compile = args.compile
        self.env = env
        self.scratch = scratch
        self.deadline = Deadline(args.budget_seconds)
        self.peaks: dict = {}
        self.started = time.monotonic()

    def progress(self, what: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {what}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="every section on the CPU at small sizes")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "bench-out/gpu")))
    parser.add_argument("--wheels", type=Path, help="a folder of wheels for missing packages (av, tomli-w)")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--budget-seconds", type=float, default=470, help="later rows are skipped past this")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        env = bootstrap(args.wheels, scratch)
        sys.path.insert(0, str(ROOT / "benchmarks"))
        os.environ["IMGTRANS_HOME"] = str(scratch / "home")
        env["IMGTRANS_HOME"] = str(scratch / "home")
        ctx = Context(args, env, scratch)
        if ctx.device.type == "cuda":
            import torch

            if not torch.cuda.is_available():
                sys.exit("no CUDA device: run with --dry-run for the CPU rehearsal")
        results: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        functions = {"environment": environment, "parity": parity, "inference": inference, "large": large,
                     "training": training, "nccl": nccl, "video": video, "tests": tests}
        for section in SECTIONS:
            if section not in args.sections and section != "environment":
                continue
            ctx.progress(f"{section} ...")
            try:
                results[section] = functions[section](ctx)
            except Exception as exc:  # the other sections still run
                results[section] = {"error": f"{type(exc).__name__}: {exc}",
                                    "traceback": traceback.format_exc()[-2000:]}
            results["seconds"] = round(time.monotonic() - ctx.started, 1)
            (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
            (args.out / "gpu_check.md").write_text(markdown(results))
    failed = [s for s in SECTIONS if isinstance(results.get(s), dict) and "error" in results[s]]
    print(f"wrote {args.out / 'gpu_check.md'} and gpu_check.json in {results['seconds']} s"
          + (f"; sections that failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
