"""Device truth: memory budgets from free memory, the precision policy, what a
run reports about where it ran, and `imgtrans doctor` (CPU here; the GPU rows
come from benchmarks/gpu_check.py)."""

import json

import numpy as np
import pytest
import torch
from conftest import random_image

import imgtrans
from imgtrans.errors import OptionError
from imgtrans.inference.memory import CUDA_RESERVE, budget_for
from imgtrans.inference.precision import PRECISIONS, arithmetic, choose


def test_cuda_budget_is_most_of_the_free_memory_and_the_cpu_keeps_its_cap():
    gib = 1 << 30
    assert budget_for("cuda", 80 * gib) == int(80 * gib * 0.85) - CUDA_RESERVE  # an idle 80 GB card: about 67 GB
    assert budget_for("cuda", 139 * gib) > 100 * gib
    assert budget_for("cuda", 1 * gib) == 256 << 20  # nearly full card: the floor
    assert budget_for("cpu", 64 * gib) == gib  # the CPU rule: a quarter, at most 1 GB
    assert budget_for("cpu", 2 * gib) == gib // 2
    assert budget_for("cpu", 100 << 20) == 256 << 20


def test_precision_policy_on_the_cpu():
    cpu = torch.device("cpu")
    assert "tf32" in PRECISIONS
    with pytest.raises(OptionError, match="TF32 is a CUDA arithmetic"):
        choose("tf32", cpu, {}, "m")
    assert choose("auto", cpu, {"tf32": 60.0}, "m") == "fp32"  # auto never picks what the device cannot run
    with arithmetic(cpu, "fp32"):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (benchmarks/gpu_check.py covers it)")
def test_fp32_is_true_fp32_on_cuda():  # pragma: no cover - CI has no GPU
    cuda = torch.device("cuda")
    with arithmetic(cuda, "fp32"):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    with arithmetic(cuda, "tf32"):
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32


def test_run_json_says_where_and_how_each_picture_ran(cli, tiny_cyclegan, tmp_path):
    random_image(tmp_path / "a.png", size=(40, 30))
    result = cli("run", tiny_cyclegan, tmp_path / "a.png", "-o", tmp_path / "out", "--json", "--device", "auto")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["device"] == "cpu" and row["precision"] in ("fp32", "bf16") and row["streamed"] is False
    assert row["peak_memory"] > 10 << 20  # the process's peak resident memory on the CPU
    model = imgtrans.load(tiny_cyclegan, device="cpu", max_memory="16MB", precision="fp32")
    model(np.zeros((600, 500, 3), np.uint8))
    assert model.last_run.streamed and model.last_run.device == "cpu" and model.last_run.precision == "fp32"
    model(np.zeros((40, 30, 3), np.uint8))
    assert not model.last_run.streamed


def test_doctor_reports_this_machine(cli):
    result = cli("doctor", "--json", "--no-timing")
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["torch"] == torch.__version__ and facts["cuda"]["available"] == torch.cuda.is_available()
    assert facts["cpu"]["default_budget"] >= 256 << 20 and facts["video"]["installed"] is True
    assert facts["onnxruntime"]["installed"] and "CPUExecutionProvider" in facts["onnxruntime"]["providers"]
    text = cli("doctor", "--no-timing")
    assert "torch        " in text.stdout and "cache        " in text.stdout

