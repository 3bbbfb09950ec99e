"""`imgtrans run MODEL INPUT...`: translate photos at full resolution."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from imgtrans.cli.common import (
    INPUT_ERROR,
    AppState,
    Interrupted,
    interruptible,
    print_json_line,
    state,
    write_stdout_bytes,
)
from imgtrans.cli.resolve import find_target, load_model
from imgtrans.device import validate
from imgtrans.errors import check_seed
from imgtrans.inference.memory import parse_size
from imgtrans.io.inputs import OUTPUT_FORMATS, VIDEO_FORMATS, Result, plan
from imgtrans.io.temporal import DEFAULT_WINDOW
from imgtrans.names import check_component


def register(app: typer.Typer) -> None:
    @app.command("run", rich_help_panel="Use models")
    def run_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(
            help="Model name (see `imgtrans models`), or a weights file: an imgtrans .safetensors, or a generator "
                 "checkpoint (.pth, .pt, ...) whose architecture is read from it.",
        )],
        inputs: Annotated[list[str], typer.Argument(help="Image files, folders, quoted globs, or - for stdin.")],
        output: Annotated[Path | None, typer.Option(
            "-o",
            "--output",
            help="Output folder (default: ./imgtrans-out/MODEL).",
        )] = None,
        device: Annotated[str | None, typer.Option(
            help="auto, cpu, cuda, cuda:N or mps (env: IMGTRANS_DEVICE).",
        )] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Images of equal size translated together.")] = 1,
        seed: Annotated[int | None, typer.Option(help="Make dropout noise reproducible (per image).")] = None,
        suffix: Annotated[str, typer.Option(help="Added to each output file's stem.")] = "",
        ext: Annotated[str | None, typer.Option(
            help="Output format: png, jpg, webp or gif for images (default: png); mp4, mov, mkv, webm, avi or gif "
                 "for videos (default: the input's).",
        )] = None,
        overwrite: Annotated[bool, typer.Option(help="Replace existing outputs instead of skipping them.")] = False,
        recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
        load_size: Annotated[int | None, typer.Option(
            min=1,
            help="Resize the shorter side to N first (default: full resolution).",
        )] = None,
        no_dropout: Annotated[bool, typer.Option("--no-dropout", help="Disable test-time dropout (pix2pix).")] = False,
        compile: Annotated[bool, typer.Option(
            "--compile",
            help="torch.compile whole pictures: seconds to a minute of compiling first, then faster; for many "
                 "pictures or videos.",
        )] = False,
        eval_mode: Annotated[bool, typer.Option(
            "--eval-mode",
            help="Use stored running statistics instead of per-image ones.",
        )] = False,
        mirror: Annotated[str | None, typer.Option(
            help="Base URL replacing the weights host (env: IMGTRANS_MIRROR).",
        )] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON line per image on stdout.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")] = False,
        max_memory: Annotated[str | None, typer.Option(
            help="Memory for one picture and its activations, e.g. 300MB, 2GB; larger pictures run streamed with "
                 "the same result (default: from free memory).",
        )] = None,
        precision: Annotated[str | None, typer.Option(
            help="fp32 (true fp32, also on CUDA), tf32 (CUDA), bf16, fp16 or auto: reduced precision only where "
                 "measured at 45 dB or better against fp32 for the model (see `imgtrans info`).",
        )] = "auto",
        crf: Annotated[int, typer.Option(
            min=0,
            max=51,
            help="Video quality: lower is better and larger (x264's CRF; VP9 gets its equivalent).",
        )] = 18,
        stats_window: Annotated[float, typer.Option(
            min=0.01,
            help="Video: each frame is normalised with the statistics of its shot's frames around it, "
                 "Gaussian-weighted over this many seconds (standard deviation).",
        )] = DEFAULT_WINDOW,
        per_frame_stats: Annotated[bool, typer.Option(
            "--per-frame-stats",
            help="Video: normalise each frame with its own statistics instead (as the reference does; flickers).",
        )] = False,
        max_pixels: Annotated[int | None, typer.Option(
            min=1,
            help="Refuse pictures and video frames with more pixels (decompression-bomb guard) (default: Pillow's, "
                 "about 89 million).",
        )] = None,
        network: Annotated[str | None, typer.Option(
            help="The generator to run from a checkpoint that holds several (e.g. G_A).",
        )] = None,
    ) -> None:
        """Translate images with MODEL, at full resolution, into ./imgtrans-out/MODEL/.

        Exit status: 0 when every input succeeded, 1 when any failed (each is
        named with its reason), 2 for usage errors.
        """
        app_state = state(ctx)
        requested = (ext or "").lower().lstrip(".")
        if ext is not None and not requested:
            app_state.fail(
                "--ext is empty (png, jpg, webp or gif for images; mp4, mov, mkv, webm, avi or gif for videos)"
            )
        if requested and requested not in OUTPUT_FORMATS + VIDEO_FORMATS:
            app_state.fail(
                f"unknown --ext {requested!r} (png, jpg, webp or gif for images; mp4, mov, mkv, webm, avi or gif "
                "for videos)"
            )
        ext = requested if requested in OUTPUT_FORMATS else "png"  # gif: a still GIF for images, animated for videos
        video_ext = requested if requested in VIDEO_FORMATS else None
        validate(device)
        check_seed(seed)
        check_component(suffix, "--suffix", allow_empty=True)
        budget = parse_size(max_memory) if max_memory is not None else None
        use_stdin = "-" in inputs
        if use_stdin and len(inputs) > 1:
            app_state.fail("'-' (stdin) cannot be combined with other inputs")
        if use_stdin and sys.stdin is None:  # started with descriptor 0 closed (`<&-`): said before loading
            app_state.fail("<stdin>: standard input is closed (give a picture on it, or name files)", INPUT_ERROR)
        target = find_target(app_state, model, network=network)
        if target.kind != "translate":
            app_state.fail(f"{model!r} generates images from labels; use `imgtrans sample {model}`")

        out_dir = output if output is not None else Path("imgtrans-out") / target.name
        if not use_stdin:
            writable_folder(app_state, out_dir)
        group = join_torchrun(app_state, use_stdin)
        if group is not None:
            device = rank_device(device, group.local_rank)
        main = group is None or group.is_main
        for note in () if quiet or not main else target.notes:
            app_state.note(note)
        planned = None
        if not use_stdin and main:
            planned = plan(inputs, out_dir, recursive=recursive, suffix=suffix, ext=ext, overwrite=overwrite,
                           video_ext=video_ext)
        if group is not None:  # rank 0's plan for all: ranks that list the folders themselves could disagree
            planned = collective(app_state, group.share, planned)
        jobs, results = planned or ([], [])
        if not use_stdin and not jobs and not results:
            app_state.fail("no input images")

        options = {"device": device, "mirror": mirror, "seed": seed, "dropout": not no_dropout, "eval_mode": eval_mode,
                   "max_memory": budget, "precision": precision, "compile": compile, "network": network}
        total = len(jobs) + len(results)
        try:
            with interruptible():
                run_all(app_state, target, options, group, jobs, results, use_stdin=use_stdin, out_dir=out_dir,
                        ext=ext, batch_size=batch_size, overwrite=overwrite, as_json=as_json, quiet=quiet,
                        video_ext=video_ext, crf=crf, stats_window=None if per_frame_stats else stats_window,
                        load_size=load_size, max_pixels=max_pixels)
        except Interrupted as stop:
            app_state.error(interrupted_line(stop, stop.counts, total))
            raise typer.Exit(stop.exit_code) from None


def interrupted_line(stop: Interrupted, counts: dict | None, total: int) -> str:
    """What a signal left done and undone, and how to finish."""
    if not counts or not any(counts.values()):
        return f"interrupted by {stop}: nothing translated; the same command starts again"
    done = counts["ok"] + counts["skipped"] + counts["error"]
    parts = [f"{counts['ok']} translated"] + [f"{counts[key]} {word}" for key, word in
                                              (("skipped", "skipped"), ("error", "failed")) if counts[key]]
    return (f"interrupted by {stop}: {', '.join(parts)}, {max(total - done, 0)} not done; "
            "the same command again does the rest (finished outputs are skipped)")


def run_all(app_state: AppState, target, options: dict, group, jobs, results, *, use_stdin: bool, out_dir: Path,
            ext: str, batch_size: int, overwrite: bool, as_json: bool, quiet: bool, video_ext, crf: int,
            stats_window, load_size, max_pixels) -> None:
    """Load the model and translate everything (stdin, or the planned jobs); exits with the status."""
    if group is None:
        translator = load_model(app_state, target, **options)
    else:  # rank 0 downloads (if needed) while the others wait
        from imgtrans.inference.sharding import share

        translator = load_model(app_state, target, **options) if group.is_main else None
        collective(app_state, group.barrier)
        if translator is None:
            translator = load_model(app_state, target, quiet=True, **options)
        jobs, results = share(jobs, group.rank, group.world), results if group.is_main else []
    decoding = {"channels": translator.channels, "load_size": load_size, "max_pixels": max_pixels}
    if use_stdin:
        raise typer.Exit(run_stdin(app_state, translator, ext=ext, **decoding))
    start = time.perf_counter()
    counts = run_files(
        app_state, translator, jobs, results, ext=ext, batch_size=batch_size, overwrite=overwrite,
        as_json=as_json, quiet=quiet, video_ext=video_ext, crf=crf, stats_window=stats_window, **decoding,
    )
    if group is None:
        summarise(app_state, counts, out_dir, time.perf_counter() - start, quiet=quiet)
        raise typer.Exit(INPUT_ERROR if counts["error"] else 0)
    everyone = collective(app_state, group.gather, counts)
    total = {key: sum(c[key] for c in everyone) for key in counts}
    if group.is_main:
        summarise(app_state, total, out_dir, time.perf_counter() - start, quiet=quiet, processes=group.world)
    group.exit(INPUT_ERROR if total["error"] else 0)


def writable_folder(app_state: AppState, folder: Path) -> None:
    """Refuse, before any work (and without creating anything), an output
    folder that is a file or could not be created or written."""
    if folder.exists() and not folder.is_dir():
        app_state.fail(f"-o {folder}: exists and is not a folder")
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        app_state.fail(f"-o {folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        app_state.fail(f"-o {folder}: cannot write into {existing} (permission denied)")


def run_stdin(app_state: AppState, translator, *, channels: int, load_size, max_pixels, ext: str) -> int:
    from imgtrans.inference.batchrun import resize_shorter_side
    from imgtrans.io import imageio

    try:
        picture = imageio.decode(imageio.read_stream(sys.stdin.buffer), channels=channels, max_pixels=max_pixels)
    except imageio.ImageError as exc:
        app_state.error(f"<stdin>: {exc}")
        return INPUT_ERROR
    except OSError as exc:
        app_state.error(f"<stdin>: cannot read ({exc.strerror or exc})")
        return INPUT_ERROR
    if load_size:
        picture = resize_shorter_side(picture, load_size)
    note = translator.scale_note(*picture.pixels.shape[:2])
    if note is not None:
        app_state.note(note)
    [pixels] = translator.translate_arrays([picture.pixels])
    write_stdout_bytes(imageio.encode(pixels, picture.alpha, ext))
    return 0


def run_video(app_state: AppState, model, job, *, ext, crf, stats_window, batch_size, overwrite, max_pixels,
              progress) -> Result:
    """One video: a progress bar in frames with an ETA on a terminal; one Result."""
    from imgtrans.io.video import VideoError, translate_video

    start = time.perf_counter()
    bar, task = None, None

    def on_start(total):
        nonlocal bar, task
        if progress:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            bar = Progress(TextColumn(f"{job.item.path.name}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                           TimeRemainingColumn(), console=app_state.stderr, transient=True)
            bar.start()
            task = bar.add_task("video", total=total)

    def on_frames(n):
        if bar is not None and task is not None:
            bar.advance(task, n)

    try:
        done = translate_video(model, job.item.path, job.output, ext=ext, crf=crf, stats_window=stats_window,
                               batch_size=max(batch_size, 4), overwrite=overwrite, max_pixels=max_pixels,
                               on_start=on_start, on_frames=on_frames)
    except VideoError as exc:
        return Result(str(job.item.path), None, "error", (time.perf_counter() - start) * 1e3, str(exc))
    finally:
        if bar is not None:
            bar.stop()
    return Result(str(job.item.path), str(job.output), "ok", done.seconds * 1e3, frames=done.frames,
                  ran=model.last_run.as_dict())


def run_files(app_state: AppState, translator, jobs, early: list[Result], *, channels, load_size, max_pixels, ext,
              batch_size, overwrite, as_json, quiet, video_ext=None, crf=18, stats_window=DEFAULT_WINDOW) -> dict:
    """Translate the jobs, reporting each result; returns the counts by status."""
    from imgtrans.inference.batchrun import translate_files

    counts = {"ok": 0, "skipped": 0, "error": 0}

    def report(result: Result) -> None:
        counts[result.status] += 1
        if as_json:
            print_json_line(result.as_dict())
        if result.status == "error":
            app_state.error(f"{result.input}: {result.error}")
        elif result.status == "skipped" and not quiet and not as_json:
            app_state.note(f"skipped {result.input}: {result.error}")

    for result in early:
        report(result)
    videos = [job for job in jobs if job.video]
    jobs = [job for job in jobs if not job.video]
    noted = quiet

    def translate(batch):
        nonlocal noted
        note = None if noted else translator.scale_note(*batch[0].shape[:2])
        if note is not None:
            app_state.note(note)
            noted = True
        return translator.translate_arrays(batch)

    leftovers: list[Result] = []
    stream = translate_files(
        jobs, translate, describe=lambda: translator.last_run.as_dict(), batch_size=batch_size, channels=channels,
        load_size=load_size, max_pixels=max_pixels, ext=ext, overwrite=overwrite, leftovers=leftovers,
    )
    show_progress = app_state.stderr.is_terminal and not quiet and not as_json
    try:
        if show_progress and jobs:
            from rich.progress import Progress

            with Progress(console=app_state.stderr, transient=True) as progress:
                task = progress.add_task("translating", total=len(jobs))
                for result in stream:
                    report(result)
                    progress.advance(task)
        else:
            for result in stream:
                report(result)
        for job in videos:
            report(run_video(app_state, translator, job, ext=video_ext, crf=crf, stats_window=stats_window,
                             batch_size=batch_size, overwrite=overwrite, max_pixels=max_pixels,
                             progress=show_progress or False))
    except Interrupted as stop:
        stream.close()  # pictures not started are dropped; writes under way finish (reported) or leave nothing
        for result in leftovers:
            report(result)
        stop.counts = counts
        raise
    finally:
        stream.close()
    return counts


def summarise(app_state: AppState, counts: dict, out_dir: Path, elapsed: float, *, quiet: bool,
              processes: int = 1) -> None:
    if quiet:
        return
    app_state.note(
        f"{counts['ok']} translated into {out_dir} in {elapsed:.1f} s"
        + (f" by {processes} processes" if processes > 1 else "")
        + (f", {counts['skipped']} skipped" if counts["skipped"] else "")
        + (f", {counts['error']} failed" if counts["error"] else "")
    )


def join_torchrun(app_state: AppState, use_stdin: bool):
    """The torch.distributed group when started by torchrun with several
    processes (each translates a share of the inputs), else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    if use_stdin:
        app_state.fail("'-' (stdin) cannot be shared among torchrun's processes; give files")
    from imgtrans.distributed import Distributed

    return Distributed.from_environment("cpu", backend="gloo")  # only small objects travel: gloo on any device


def rank_device(device: str | None, local_rank: int) -> str | None:
    """One GPU per rank on a machine: auto and cuda become cuda:LOCAL_RANK
    (also made the current device, so nothing lands on GPU 0 by default)."""
    import torch

    name = validate(device)
    if name in ("auto", "cuda") and torch.cuda.is_available():
        index = local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return f"cuda:{index}"
    return device


def collective(app_state: AppState, operation, *args):
    """A group operation; when another process of the job died, one line
    instead of the backend's traceback (its own message says why)."""
    try:
        return operation(*args)
    except RuntimeError as exc:  # gloo/NCCL report a lost peer as RuntimeError subclasses
        app_state.fail(f"another process of the torchrun job stopped ({str(exc).splitlines()[0][:160]}); "
                       "its message says why")
