"""Training as a library call (`imgtrans.train`), and what a run folder survives:
two processes on one name, a kill before the first checkpoint, SIGTERM, a disk
that fills up at a checkpoint, a malformed MNIST-format file."""

import json
import os
import resource
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import write_idx
from test_training import TINY_CYCLEGAN, losses, train_process, wait_for_checkpoint

import imgtrans
from imgtrans.training.config import ConfigError
from imgtrans.training.launch import TrainingError, plan_training
from imgtrans.training.runs import RunBusyError

pytestmark = pytest.mark.slow  # trains, in processes: `pytest -m 'not slow'` leaves the module out


def losses_file(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


TINY = {"ngf": 8, "ndf": 8, "netG": "resnet_6blocks", "load_size": 36, "crop_size": 32, "save_every": 4,
        "sample_every": 4, "epochs": 1, "epochs_decay": 1}


def test_train_from_python_publishes_and_reports_through_events(unaligned, tmp_path):
    events = []
    result = imgtrans.train("cyclegan", unaligned, "lib", options=TINY, runs=tmp_path / "runs",
                            on_event=lambda kind, **data: events.append((kind, data)))
    assert result.step == 8 and not result.interrupted and result.run_path == tmp_path / "runs" / "lib"
    assert set(result.losses) >= {"G_A", "D_A", "cycle_A"} and all(np.isfinite(list(result.losses.values())))
    assert [p.stem for p in result.published] == ["lib", "lib-reverse"]
    kinds = [kind for kind, _ in events]
    assert kinds.count("step") == 8 and "start" in kinds and kinds.count("checkpoint") == 2
    assert [data["step"] for kind, data in events if kind == "checkpoint"] == [4, 8]
    info = json.loads((result.run_path / "run.json").read_text())
    assert info["family"] == "cyclegan" and info["command"].startswith("imgtrans.train")
    assert [r["step"] for r in losses(result.run_path)] == list(range(1, 9))
    # the losses in the log are the ones returned for the last step
    assert losses(result.run_path)[-1]["G_A"] == pytest.approx(result.losses["G_A"])
    model = imgtrans.load("lib")
    out = model(np.zeros((32, 32, 3), np.uint8))
    assert out.shape == (32, 32, 3)
    # the files a model card shows, made from the run by the card's stated command
    script = Path(__file__).resolve().parents[1] / "scripts" / "card_files.py"
    made = subprocess.run([sys.executable, str(script), str(result.run_path), "--name", "lib", "--per-epoch",
                           "-o", str(tmp_path)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert [r["step"] for r in losses_file(tmp_path / "lib.log.jsonl")] == [4, 8]
    assert (tmp_path / "lib-losses.png").read_bytes()[:4] == b"\x89PNG"
    assert 'family = "cyclegan"' in (tmp_path / "lib.config.toml").read_text()


def test_library_refusals_are_imgtrans_errors_before_any_work(unaligned, tmp_path):
    runs = tmp_path / "runs"
    cases = [
        (dict(family="stylegan", data=unaligned, name="x"), imgtrans.registry.UnknownFamilyError,
         "unknown model family"),
        (dict(data=unaligned, name="x"), TrainingError, "--family is required"),
        (dict(family="cyclegan", data=tmp_path / "missing", name="x"), TrainingError, "no such dataset"),
        (dict(family="cyclegan", data=unaligned, name="x", options={"lambda_cycel": 5}), ConfigError, "unknown option"),
        (dict(family="cyclegan", data=unaligned, name="../x"), imgtrans.OptionError, "path separator"),
        (dict(family="cyclegan", resume=tmp_path), TrainingError, "not a run folder"),
    ]
    for kwargs, kind, message in cases:
        with pytest.raises(kind, match=message.replace("(", r"\(")) as caught:
            imgtrans.train(runs=runs, **kwargs)
        assert isinstance(caught.value, imgtrans.ImgtransError)
    assert not runs.exists()
    # --print-config needs no data and no name
    plan = plan_training("cyclegan", options={"lambda_cycle": 5}, require_run=False)
    assert 'family = "cyclegan"' in plan.config_toml() and "lambda_cycle = 5.0" in plan.config_toml()


def test_old_run_folders_written_with_plugin_keys_still_resume_and_publish(cli, unaligned, tmp_path):
    run = tmp_path / "runs" / "old"
    assert cli("train", *TINY_CYCLEGAN, "--data", unaligned, "--name", "old", "--epochs", "1",
               "--epochs-decay", "0").exit_code == 0
    for name, old_key in (("config.toml", 'plugin = "cyclegan"'), ("run.json", '"plugin": "cyclegan"')):
        text = (run / name).read_text()
        new_key = old_key.replace("plugin", "family")
        assert new_key in text
        (run / name).write_text(text.replace(new_key, old_key))
    resumed = cli("train", "--resume", run, "--max-steps", "6", "--epochs", "2")
    assert resumed.exit_code == 2 and "--epochs contradicts the run being resumed" in resumed.stderr
    published = cli("publish", run, "--name", "again", "-o", tmp_path / "pub")
    assert published.exit_code == 0, published.stderr
    assert (tmp_path / "pub" / "again.safetensors").is_file()


def test_two_trainings_with_one_name_never_share_the_folder(unaligned, tmp_path):
    args = [*TINY_CYCLEGAN, "--data", str(unaligned), "--epochs", "200", "--epochs-decay", "0", "--name", "same"]
    first = train_process(args, tmp_path, env=dict(os.environ))
    try:
        wait_for_checkpoint(tmp_path / "runs" / "same", first, minimum=4)
        second = subprocess.run([sys.executable, "-m", "imgtrans", "train", *args], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "runs/same exists" in second.stderr, second.stderr
        resumed = subprocess.run([sys.executable, "-m", "imgtrans", "train", "--resume", "runs/same"], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 1, resumed.stderr
        assert f"runs/same is in use by another imgtrans train (process {first.pid})" in resumed.stderr
        assert "Traceback" not in resumed.stderr + second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    steps = [r["step"] for r in losses(tmp_path / "runs" / "same")]
    assert steps == list(range(1, len(steps) + 1))  # one writer: no doubled lines
    with pytest.raises(RunBusyError):  # the in-library check too: the folder appeared after the plan
        from imgtrans.training.runs import RunDir

        with RunDir(tmp_path / "runs" / "same").owned(True, new=True):
            pass


def test_a_run_killed_before_its_first_checkpoint_resumes_from_scratch(unaligned, tmp_path):
    args = [*TINY_CYCLEGAN, "--data", str(unaligned), "--epochs", "200", "--epochs-decay", "0", "--name", "early",
            "--save-every", "100000", "--sample-every", "100000"]
    process = train_process(args, tmp_path, env=dict(os.environ))
    run = tmp_path / "runs" / "early"
    deadline = time.monotonic() + 120
    while not (run / "losses.jsonl").is_file():  # training has started, no checkpoint yet
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "checkpoints" / "latest.json").exists()
    again = subprocess.run([sys.executable, "-m", "imgtrans", "train", *args], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = subprocess.run([sys.executable, "-m", "imgtrans", "train", "--resume", str(run), "--max-steps", "6"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "has no checkpoint yet: training starts over" in resumed.stderr
    assert [r["step"] for r in losses(run)] == list(range(1, 7))


def test_sigterm_saves_a_checkpoint_exits_143_and_leaves_no_temporary_files(unaligned, tmp_path):
    args = [*TINY_CYCLEGAN, "--data", str(unaligned), "--epochs", "200", "--epochs-decay", "0", "--name", "term"]
    process = train_process(args, tmp_path, env=dict(os.environ))
    run = tmp_path / "runs" / "term"
    wait_for_checkpoint(run, process, minimum=4)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "interrupted (SIGTERM)" in stderr and "Traceback" not in stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["signal"] == "SIGTERM"
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == summary["step"]
    assert [r["step"] for r in losses(run)] == list(range(1, summary["step"] + 1))
    assert not [p for p in run.rglob("*") if p.name.startswith(".") and p.name != ".lock"]


def _file_size_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_checkpoint_that_cannot_be_written_is_one_line_and_leaves_nothing_behind(unaligned, tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: the networks' file cannot be
    written; the log and the (rarer) sample grids can."""
    args = [*TINY_CYCLEGAN, "--data", str(unaligned), "--epochs", "1", "--epochs-decay", "0", "--name", "full",
            "--sample-every", "1000"]
    process = train_process(args, tmp_path, env=dict(os.environ), preexec_fn=_file_size_limit(60_000))
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    assert "cannot write the checkpoint of step 4" in stderr and "Traceback" not in stderr
    assert len([line for line in stderr.splitlines() if "error" in line]) == 1, stderr
    checkpoints = tmp_path / "runs" / "full" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == []


def test_mnist_files_of_the_wrong_shape_are_one_line(cli, tmp_path):
    data = tmp_path / "digits"
    write_idx(data, "train", np.zeros((4, 8, 8), np.uint8), np.arange(4))
    # the images file's header now declares a single dimension
    import gzip

    with gzip.open(data / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">HBBI", 0, 8, 1, 256) + bytes(256))
    result = cli("train", "--family", "cgan", "--data", data, "--name", "digits")
    assert result.exit_code == 2 and "holds an array of shape (256,), not pictures" in result.stderr
    assert "Traceback" not in result.stderr
