"""`imgtrans train` / `export`: the three recipes on tiny generated datasets,
exact resume after SIGKILL, Ctrl-C, two gloo processes, refusals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import smooth_image, write_idx
from PIL import Image
from safetensors.torch import load_file

from imgtrans.checkpoints import store

pytestmark = pytest.mark.slow  # trains, in processes: `pytest -m 'not slow'` leaves the module out

TINY_CYCLEGAN = ["--plugin", "cyclegan", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
                 "--load-size", "36", "--crop-size", "32", "--save-every", "4", "--sample-every", "4"]


def write_inversion_pairs(folder: Path, n=8, size=128, side_by_side=True, seed=1):
    rng = np.random.default_rng(seed)
    for i in range(n):
        a = smooth_image(rng, size)
        if side_by_side:
            (folder / "train").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(folder / "train" / f"{i}.png")
        else:
            (folder / "A").mkdir(parents=True, exist_ok=True)
            (folder / "B").mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(folder / "A" / f"{i}.png")
            Image.fromarray(255 - a).save(folder / "B" / f"{i}.jpg")
    return folder


def losses(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]


def test_cyclegan_run_folder_export_and_run(cli, unaligned, tmp_path):
    result = cli("train", *TINY_CYCLEGAN, "--data", unaligned, "--name", "h2z", "--epochs", "1", "--epochs-decay", "1")
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "runs" / "h2z"
    assert (run / "config.toml").is_file() and (run / "losses.png").is_file() and (run / "summary.json").is_file()
    records = losses(run)
    assert [r["step"] for r in records] == list(range(1, 9))
    assert {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B", "lr"} <= set(records[0])
    assert records[0]["lr"] == pytest.approx(2e-4) and records[-1]["lr"] == pytest.approx(1e-4)  # linear decay
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000004.png", "step-00000008.png"]
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    state = torch.load(run / "checkpoints" / f"{latest['stem']}.state.pt", weights_only=True)
    assert state["step"] == 8 and len(state["recipe"]["pool_A"]["images"]) == 8
    tensors = load_file(run / "checkpoints" / f"{latest['stem']}.safetensors")
    assert set(k.split(".")[0] for k in tensors) == {"G_A", "G_B", "D_A", "D_B"}

    listed = cli("models", "--json").stdout
    assert '"name": "h2z"' in listed and '"name": "h2z-reverse"' in listed
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "x.png")
    for model in ("h2z", "h2z-reverse"):
        ran = cli("run", model, tmp_path / "x.png", "-o", tmp_path / model)
        assert ran.exit_code == 0, ran.stderr
        assert Image.open(tmp_path / model / "x.png").size == (30, 20)

    again = cli("train", *TINY_CYCLEGAN, "--data", unaligned, "--name", "h2z")
    assert again.exit_code == 2 and "--resume" in again.stderr
    exported = cli("export", run, "--name", "zebra", "--reverse-name", "horse")
    assert exported.exit_code == 0, exported.stderr
    assert store.cached_path("zebra").is_file() and store.cached_path("horse").is_file()


def test_pix2pix_learns_inversion(cli, tmp_path):
    data = write_inversion_pairs(tmp_path / "inv")
    result = cli("train", "--plugin", "pix2pix", "--data", data, "--name", "inv", "--ngf", "8", "--ndf", "8",
                 "--netG", "unet_128", "--load-size", "128", "--crop-size", "128", "--epochs", "5",
                 "--epochs-decay", "0", "--lr", "0.001", "--sample-every", "100", "--save-every", "100")
    assert result.exit_code == 0, result.stderr
    l1 = [r["G_L1"] for r in losses(tmp_path / "runs" / "inv")]
    assert len(l1) == 40
    assert np.mean(l1[-5:]) < 0.7 * np.mean(l1[:5])

    # the exported model inverts a new picture far better than doing nothing
    picture = smooth_image(np.random.default_rng(99), 128)
    Image.fromarray(picture).save(tmp_path / "new.png")
    assert cli("run", "inv", tmp_path / "new.png", "-o", tmp_path / "out", "--seed", "0").exit_code == 0
    output = np.asarray(Image.open(tmp_path / "out" / "new.png"), float)
    target = 255.0 - picture
    assert np.abs(output - target).mean() < 0.5 * np.abs(picture - target).mean()


@pytest.mark.parametrize("preprocess", ["scale_width", "none"])
def test_pix2pix_a_b_folders_grayscale_direction(cli, tmp_path, preprocess):
    data = write_inversion_pairs(tmp_path / "ab", n=3, side_by_side=False)
    result = cli("train", "--plugin", "pix2pix", "--data", data, "--name", "ab", "--ngf", "8", "--ndf", "8",
                 "--netG", "unet_128", "--crop-size", "128", "--load-size", "128", "--max-steps", "2",
                 "--direction", "BtoA", "--input-nc", "1", "--output-nc", "1", "--preprocess", preprocess)
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "runs" / "ab" / "summary.json").read_text())["step"] == 2
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "rgb.png")
    ran = cli("run", "ab", tmp_path / "rgb.png", "-o", tmp_path / "out")
    assert ran.exit_code == 0, ran.stderr
    with Image.open(tmp_path / "out" / "rgb.png") as image:
        assert image.mode == "L" and image.size == (30, 20)


@pytest.mark.parametrize("layout", ["folders", "idx"])
def test_cgan_layouts_then_sample(cli, tmp_path, layout):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = np.arange(30) % 3
    if layout == "idx":
        write_idx(tmp_path / "digits", "train", images, labels, gzip_labels=False)
    else:
        for index, (image, label) in enumerate(zip(images, labels)):
            (tmp_path / "digits" / f"class{label}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(tmp_path / "digits" / f"class{label}" / f"{index}.png")
    result = cli("train", "--plugin", "cgan", "--data", tmp_path / "digits", "--name", "d", "--ngf", "8", "--ndf", "8",
                 "--batch-size", "8", "--epochs", "2", "--sample-every", "4")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "runs" / "d" / "summary.json").read_text())["step"] == 8  # 4 batches x 2 epochs
    label = "class2" if layout == "folders" else "2"
    sampled = cli("sample", "d", "--label", label, "-n", "3", "-o", tmp_path / "s.png")
    assert sampled.exit_code == 0, sampled.stderr
    assert Image.open(tmp_path / "s.png").size == (2 + 3 * 30, 2 + 30)
    wrong = cli("train", "--plugin", "cgan", "--data", tmp_path / "digits", "--name", "d2", "--classes", "10")
    assert wrong.exit_code == 2 and "3 classes" in wrong.stderr


def train_process(args, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "imgtrans", "train", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_checkpoint(run: Path, process, minimum: int, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = run / "checkpoints" / "latest.json"
        if latest.is_file() and json.loads(latest.read_text())["step"] >= minimum:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    pytest.fail("no checkpoint appeared")


def test_sigkill_then_resume_equals_uninterrupted(cli, unaligned, tmp_path):
    args = [*TINY_CYCLEGAN, "--data", str(unaligned), "--epochs", "3", "--epochs-decay", "3", "--save-every", "3"]
    assert cli("train", *args, "--name", "whole").exit_code == 0

    process = train_process([*args, "--name", "killed"], tmp_path, env=dict(os.environ))
    wait_for_checkpoint(tmp_path / "runs" / "killed", process, minimum=6)
    process.send_signal(signal.SIGKILL)
    process.wait()
    steps_done = len(losses(tmp_path / "runs" / "killed"))
    assert steps_done < 24, "the run finished before it could be killed"

    resumed = cli("train", "--resume", tmp_path / "runs" / "killed")
    assert resumed.exit_code == 0, resumed.stderr
    assert [r["step"] for r in losses(tmp_path / "runs" / "killed")] == list(range(1, 25))  # each step once
    assert not list((tmp_path / "runs" / "killed").rglob("*.part"))
    whole = load_file(tmp_path / "runs" / "whole" / "checkpoints" / "step-00000024.safetensors")
    again = load_file(tmp_path / "runs" / "killed" / "checkpoints" / "step-00000024.safetensors")
    assert whole.keys() == again.keys()
    for key in whole:
        assert torch.allclose(whole[key].float(), again[key].float(), atol=1e-6, rtol=0), key


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_workers_and_precision_resume_exactly(cli, unaligned, tmp_path, precision):
    """Two worker processes, killed and resumed, end with the weights of an
    uninterrupted run whose data was read in the training process."""
    from imgtrans.inference.precision import cpu_has_native_bf16

    if precision == "bf16" and not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16, so imgtrans refuses bf16 here (test_precision_refusals covers that)")
    args = [*TINY_CYCLEGAN, "--data", str(unaligned), "--epochs", "3", "--epochs-decay", "3", "--save-every", "3",
            "--precision", precision]
    assert cli("train", *args, "--workers", "0", "--name", "inline").exit_code == 0
    process = train_process([*args, "--workers", "2", "--name", "workers"], tmp_path, env=dict(os.environ))
    wait_for_checkpoint(tmp_path / "runs" / "workers", process, minimum=6)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(losses(tmp_path / "runs" / "workers")) < 24, "the run finished before it could be killed"
    resumed = cli("train", "--resume", tmp_path / "runs" / "workers", "--workers", "2")
    assert resumed.exit_code == 0, resumed.stderr
    assert f"{precision}, 2 data workers" in resumed.stderr
    summary = json.loads((tmp_path / "runs" / "workers" / "summary.json").read_text())
    assert summary["precision"] == precision and summary["workers"] == 2 and 0 <= summary["data_wait_fraction"] < 1
    inline = load_file(tmp_path / "runs" / "inline" / "checkpoints" / "step-00000024.safetensors")
    again = load_file(tmp_path / "runs" / "workers" / "checkpoints" / "step-00000024.safetensors")
    for key in inline:
        assert torch.equal(inline[key], again[key]), key
    if precision == "bf16":  # it did run in bf16: near the fp32 losses, not equal to them
        fp32 = cli("train", *args[:-2], "--name", "fp32", "--max-steps", "6")
        assert fp32.exit_code == 0, fp32.stderr
        reduced, full = losses(tmp_path / "runs" / "workers")[:6], losses(tmp_path / "runs" / "fp32")
        pairs = [(r[k], f[k]) for r, f in zip(reduced, full) for k in f if k not in ("step", "epoch", "time", "lr")]
        assert any(a != b for a, b in pairs)
        assert all(abs(a - b) <= 0.05 * abs(b) + 0.01 for a, b in pairs[:8]), pairs[:8]  # the first step's losses


def test_mixed_precision_keeps_norms_and_losses_in_float32():
    from imgtrans.inference.precision import cpu_has_native_bf16
    from imgtrans.training.losses import GANLoss, L1Loss
    from imgtrans.training.mixed import MixedPrecision

    device = torch.device("cpu")
    if not cpu_has_native_bf16():
        with pytest.raises(Exception, match="no native bf16"):
            MixedPrecision("bf16", device)
        return
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.InstanceNorm2d(4), torch.nn.Conv2d(4, 1, 1))
    seen = []
    net[1].register_forward_hook(lambda module, args, out: seen.append((args[0].dtype, out.dtype)))
    mixed = MixedPrecision("bf16", device)
    mixed.prepare([net])
    with mixed.autocast():
        out = net(torch.randn(1, 3, 8, 8))
        assert out.dtype == torch.bfloat16  # convolutions in bf16
        assert GANLoss("lsgan")(out, True).dtype == torch.float32
        assert L1Loss()(out, torch.zeros(out.shape)).dtype == torch.float32
    assert seen == [(torch.float32, torch.float32)]
    assert set(net.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}  # hooks only


def test_an_unreadable_image_in_a_worker_is_one_line(cli, unaligned, tmp_path):
    """A file whose header reads but whose pixels do not fails in a worker
    process; the run stops with the file and the reason, no traceback."""
    data = (unaligned / "trainA" / "0.png").read_bytes()
    (unaligned / "trainA" / "4.png").write_bytes(data[: len(data) // 2])  # item 4: not among the sample grid's 0-3
    result = cli("train", *TINY_CYCLEGAN, "--data", unaligned, "--name", "broken", "--workers", "2", "--epochs", "2",
                 "--epochs-decay", "0")
    assert result.exit_code == 2, result.stderr
    assert "4.png" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr


def test_ctrl_c_saves_a_checkpoint_and_exits_130(unaligned, tmp_path):
    args = [*TINY_CYCLEGAN, "--data", str(unaligned), "--epochs", "50", "--epochs-decay", "0", "--name", "stop"]
    process = train_process(args, tmp_path, env=dict(os.environ))
    run = tmp_path / "runs" / "stop"
    wait_for_checkpoint(run, process, minimum=4)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["step"] < 200
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == summary["step"]


def test_two_gloo_processes_end_identical(unaligned, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "imgtrans", "train", *TINY_CYCLEGAN, "--data", str(unaligned), "--name", "ddp", "--epochs", "1",
         "--epochs-decay", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_identical"] is True
    assert summary["step"] == 4  # 4 examples split over 2 ranks: 2 steps per epoch, 2 epochs
    assert "2 processes" in result.stderr
    # the workers end without interpreter finalisation (Distributed.exit): their last lines still arrive
    assert "exported ddp" in result.stderr and (tmp_path / "home" / "weights" / "ddp.safetensors").is_file()


def test_two_torchrun_nodes_end_identical(unaligned, tmp_path):
    """torchrun's own multi-node flags: two agents, one process each, meeting
    at a static rendezvous on this machine as two machines would."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank),
         "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", str(port),
         "-m", "imgtrans", "train", *TINY_CYCLEGAN, "--data", str(unaligned), "--name", "nodes", "--epochs", "1",
         "--epochs-decay", "0", "--workers", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    summary = json.loads((tmp_path / "runs" / "nodes" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_identical"] is True and summary["step"] == 2


def test_refusals_come_before_any_work(cli, tmp_path, unaligned):
    (tmp_path / "empty").mkdir()
    (tmp_path / "half" / "trainA").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "half" / "trainA" / "a.png")
    (tmp_path / "bad" / "trainA").mkdir(parents=True)
    (tmp_path / "bad" / "trainB").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "bad" / "trainA" / "a.png")
    (tmp_path / "bad" / "trainB" / "b.jpg").write_text("not a picture")
    cases = [
        (["--plugin", "cyclegan", "--data", tmp_path / "empty"], "trainA"),
        (["--plugin", "cyclegan", "--data", tmp_path / "half"], "trainB"),
        (["--plugin", "pix2pix", "--data", tmp_path / "empty"], "side-by-side"),
        (["--plugin", "cgan", "--data", tmp_path / "empty"], "class"),
        (["--plugin", "cyclegan", "--data", tmp_path / "missing"], "no such dataset"),
        (["--plugin", "cyclegan", "--data", tmp_path / "bad"], "b.jpg: not a readable image"),
        (["--plugin", "cyclegan", "--data", unaligned, "--lambda-cycel", "5"], "unknown option 'lambda_cycel'"),
        (["--plugin", "cyclegan", "--data", unaligned, "--crop-size", "300"], "larger than load_size"),
        (["--plugin", "cyclegan", "--data", unaligned, "--gan-mode", "wgan"], "gan_mode"),
        (["--plugin", "cyclegan", "--data", unaligned, "--input-nc", "1"], "identity loss"),
        (["--plugin", "pix2pix", "--data", unaligned, "--netG", "unet_128", "--crop-size", "64", "--load-size", "64"],
         "multiple of 128"),
        (["--plugin", "stylegan", "--data", unaligned], "unknown model family"),
        (["--data", unaligned], "--family is required"),
        (["--plugin", "cyclegan", "--data", unaligned, "--precision", "fp16"], "fp16 training needs CUDA"),
        (["--plugin", "cyclegan", "--data", unaligned, "--precision", "fp64"],
         "precision must be one of fp32, bf16, fp16"),
    ]
    for args, message in cases:
        result = cli("train", *args, "--name", "x")
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_print_config_round_trips_through_config(cli, tmp_path, unaligned):
    printed = cli("train", "--plugin", "cyclegan", "--print-config", "--lambda-cycle", "5", "--no-flip")
    assert printed.exit_code == 0
    assert "lambda_cycle = 5.0" in printed.stdout and "flip = false" in printed.stdout
    assert 'family = "cyclegan"' in printed.stdout
    (tmp_path / "recipe.toml").write_text(printed.stdout)
    again = cli("train", "--config", tmp_path / "recipe.toml", "--print-config", "--pool-size", "7")
    assert again.exit_code == 0
    assert again.stdout == printed.stdout.replace("pool_size = 50", "pool_size = 7")
    (tmp_path / "bad.toml").write_text('plugin = "cyclegan"\nlambda_cycle = "lots"\n')
    bad = cli("train", "--config", tmp_path / "bad.toml", "--print-config")
    assert bad.exit_code == 2 and "lambda_cycle" in bad.stderr
