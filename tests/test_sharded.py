"""`torchrun ... -m imgtrans run`: the inputs shared among processes (CPU,
gloo here; one GPU per rank on a GPU machine). The union of the outputs must
equal a single-process run, each input translated once, and a killed job
rerun must complete the set."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_checkpoint
from PIL import Image

from imgtrans.inference.sharding import VIDEO_WEIGHT, share
from imgtrans.io.inputs import InputFile, Job

pytestmark = pytest.mark.slow


def pictures(folder: Path, n: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        size = (24 + 8 * (i % 5), 32 + 4 * (i % 3), 3)
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(folder / f"p{i:02d}.png")
    return folder


def torchrun(*args, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
            "-m", "imgtrans", "run", *map(str, args)]


ENV = dict(os.environ, OMP_NUM_THREADS="1")


def outputs(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("[!.]*.png"))}


@pytest.fixture
def model(tmp_path):
    make_checkpoint(tmp_path / "g.pth", "cyclegan", netG="resnet_6blocks", ngf=4)
    return tmp_path / "g.pth"


def test_shares_are_balanced_disjoint_and_complete(tmp_path):
    jobs = []
    for i, size in enumerate([900, 100, 500, 300, 300, 50, 700]):
        (tmp_path / f"f{i}").write_bytes(bytes(size))
        jobs.append(Job(InputFile(tmp_path / f"f{i}", Path(f"f{i}")), tmp_path / f"o{i}", video=i == 5))
    parts = [share(jobs, rank, 3) for rank in range(3)]
    assert sorted(j.item.path.name for part in parts for j in part) == sorted(j.item.path.name for j in jobs)
    loads = [sum((tmp_path / j.item.path.name).stat().st_size * (VIDEO_WEIGHT if j.video else 1) for j in part)
             for part in parts]
    assert loads == [1300, 1300, 1200]  # largest first to the least loaded: the video (50 bytes x 20) counts 1000
    assert share(jobs, 0, 1) == jobs and share(jobs, 1, 3) == share(list(jobs), 1, 3)  # deterministic


def test_two_processes_translate_each_input_once_as_one_would(model, tmp_path):
    inputs = pictures(tmp_path / "in", 9)
    single = subprocess.run([sys.executable, "-m", "imgtrans", "run", str(model), str(inputs), "-o",
                             str(tmp_path / "single"), "-q"], env=ENV, cwd=tmp_path, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    split = subprocess.run(torchrun(model, inputs, "-o", tmp_path / "split", "--json"),
                           env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert split.returncode == 0, split.stderr
    rows = [json.loads(line) for line in split.stdout.splitlines() if line.startswith("{")]
    assert sorted(Path(r["input"]).name for r in rows) == [f"p{i:02d}.png" for i in range(9)]  # each once
    assert all(r["status"] == "ok" for r in rows)
    assert "9 translated into" in split.stderr and "by 2 processes" in split.stderr
    single_out, split_out = outputs(tmp_path / "single"), outputs(tmp_path / "split")
    assert single_out.keys() == split_out.keys()
    assert all(np.array_equal(single_out[k], split_out[k]) for k in single_out)


def test_two_nodes_on_one_machine(model, tmp_path):
    """torchrun's multi-node flags: two agents, one process each, as two machines would."""
    inputs = pictures(tmp_path / "in", 5)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node",
         "1", "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "imgtrans", "run", str(model),
         str(inputs), "-o", str(tmp_path / "out"), "--json"],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    results = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], results
    rows = [json.loads(line) for out, _ in results for line in out.splitlines() if line.startswith("{")]
    assert len(rows) == 5 and len({r["input"] for r in rows}) == 5
    assert all(any(line.startswith("{") for line in out.splitlines()) for out, _ in results)  # both nodes worked
    assert len(list((tmp_path / "out").iterdir())) == 5


def test_a_failure_on_one_rank_fails_the_job_and_the_others_finish(model, tmp_path):
    inputs = pictures(tmp_path / "in", 6)
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    result = subprocess.run(torchrun(model, inputs, "-o", tmp_path / "out"), env=ENV, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0  # torchrun reports the rank that exited 1
    assert "broken.png" in result.stderr and "6 translated into" in result.stderr and "1 failed" in result.stderr
    assert len(list((tmp_path / "out").iterdir())) == 6


def test_a_killed_job_rerun_completes_the_set(model, tmp_path):
    inputs = pictures(tmp_path / "in", 24, seed=3)
    # as a killed job leaves it: some outputs written, and a temporary file from a write cut short
    done = subprocess.run([sys.executable, "-m", "imgtrans", "run", str(model), str(inputs / "p00.png"),
                           str(inputs / "p07.png"), "-o", str(tmp_path / "out"), "-q"], env=ENV, cwd=tmp_path)
    assert done.returncode == 0
    (tmp_path / "out" / ".imgtrans-p03.png.x1y2.part").write_bytes(b"half")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("p*.png")}
    job = subprocess.Popen(torchrun(model, inputs, "-o", tmp_path / "out"), env=ENV, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None and len(list((tmp_path / "out").glob("p*.png"))) < 4:
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)  # the whole job: agent and both ranks
    job.wait()
    rerun = subprocess.run(torchrun(model, inputs, "-o", tmp_path / "out", "--json"), env=ENV,
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = [json.loads(line) for line in rerun.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 24 and {r["status"] for r in rows} <= {"ok", "skipped"}
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("p*.png") if p.name in before} == before
    single = subprocess.run([sys.executable, "-m", "imgtrans", "run", str(model), str(inputs), "-o",
                             str(tmp_path / "single"), "-q"], env=ENV, cwd=tmp_path)
    assert single.returncode == 0
    got, expected = outputs(tmp_path / "out"), outputs(tmp_path / "single")
    assert got.keys() == expected.keys()
    assert all(np.array_equal(got[k], expected[k]) for k in expected)
