"""Hostile input, class by class: nothing outside the chosen place, no
tracebacks, no hangs, and the rest of a batch still finishes."""

import http.server
import json
import os
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_image, write_idx
from PIL import Image

from imgtrans import store, weights
from imgtrans.download import DownloadError, fetch


def one_line_error(result, code=2):
    assert result.exit_code == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


def relabelled_cgan(tmp_path: Path, labels: list[str]) -> str:
    """A copy of the shipped cgan-digits whose metadata carries `labels`."""
    source = store.shipped_dir() / "cgan-digits.safetensors"
    metadata, _ = weights.read_header(source)
    metadata["imgtrans.labels"] = json.dumps(labels)
    tensors = {f"G.{k}": v for k, v in weights.load_tensors(source).items()}
    destination = store.cached_path("evil-labels")
    weights.save(destination, tensors, metadata)
    return "evil-labels"


# -- nothing outside the chosen place --------------------------------------------


def test_labels_from_a_weights_file_cannot_escape(cli, tmp_path):
    name = relabelled_cgan(tmp_path, ["../../escaped"] + [str(i) for i in range(1, 10)])
    (tmp_path / "deep" / "er").mkdir(parents=True)
    result = cli("sample", name, "--label", "0", "-n", "1", "--separate", "-o", tmp_path / "deep" / "er" / "out")
    assert "label name (from the weights file)" in one_line_error(result)
    assert not list(tmp_path.rglob("escaped*"))


@pytest.mark.parametrize("args", [
    ("weights", "rm", "../../victim"),
    ("weights", "rm", "/tmp/victim"),
    ("train", "--family", "cyclegan", "--data", "data", "--name", "../victim"),
    ("publish", "runs/x", "--name", "../../victim"),
    ("run", "vintage", "in.png", "--suffix", "/../../victim"),
    ("run", "vintage", "in.png", "--suffix", "../../victim"),
    ("weights", "import", "x.pth", "--name", "../victim", "--family", "cyclegan"),
])
def test_names_that_would_escape_are_refused(cli, tmp_path, args):
    victim = tmp_path / "victim.safetensors"
    victim.write_bytes(b"precious")
    (tmp_path / "data").mkdir()
    random_image(tmp_path / "in.png")
    (tmp_path / "x.pth").write_bytes(b"x")
    message = one_line_error(cli(*args))
    assert any(word in message for word in ("separator", "'..'", "invalid model name")), message
    assert victim.read_bytes() == b"precious"
    assert not list(tmp_path.parent.glob("victim*")) and not (tmp_path.parent.parent / "victim").exists()


def test_training_does_not_replace_a_model_silently(cli, tmp_path, tiny_cyclegan):
    (tmp_path / "data").mkdir()
    refused = cli("train", "--family", "cyclegan", "--data", "data", "--name", tiny_cyclegan)
    assert "--force" in one_line_error(refused) and store.cached_path(tiny_cyclegan).is_file()


def test_control_characters_in_names_are_escaped(cli, tmp_path, tiny_cyclegan):
    evil = tmp_path / "evil\x1b[31mred\x07.png"
    evil.write_bytes(b"not an image")
    random_image(tmp_path / "good.png")
    result = cli("run", tiny_cyclegan, str(evil), "good.png", "-o", "out")
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "evil\\x1b[31mred\\x07.png" in result.stderr
    assert (tmp_path / "out" / "good.png").is_file()


class Endless(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()  # no Content-Length
        try:
            for _ in range(64):
                self.wfile.write(b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_download_without_length_is_capped_and_partials_are_cleaned(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    stale = tmp_path / ".download.old.part"
    stale.write_bytes(b"left by a killed download")
    os.utime(stale, (0, 0))
    try:
        with pytest.raises(DownloadError, match="more than 1000000 bytes"):
            fetch(f"http://127.0.0.1:{httpd.server_address[1]}/x.pth", tmp_path, max_bytes=1_000_000)
    finally:
        httpd.shutdown()
    assert list(tmp_path.iterdir()) == []


class Payload:
    """Any class: unpickling it would run code of the file's choosing."""


def test_pickle_refusal_never_suggests_weights_only_false(cli, tmp_path):
    torch.save({"weight": torch.zeros(2), "evil": Payload()}, tmp_path / "evil.pth")
    message = one_line_error(cli("weights", "import", tmp_path / "evil.pth", "--name", "evil", "--family", "cyclegan"))
    assert "refused" in message and "weights_only" not in message and "safe_globals" not in message


# -- no tracebacks, no hangs, the batch goes on ---------------------------------------


def test_non_regular_and_corrupt_inputs_each_fail_alone(cli, tmp_path, tiny_cyclegan):
    os.mkfifo(tmp_path / "fifo.png")
    os.mkfifo(tmp_path / "fifo.mp4")  # FFmpeg would wait for a writer forever
    os.mkfifo(tmp_path / "pipe.gif")  # so would the check for an animated GIF
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    (tmp_path / "null.mkv").symlink_to("/dev/null")
    (tmp_path / "loop1.png").symlink_to(tmp_path / "loop2.png")
    (tmp_path / "loop2.png").symlink_to(tmp_path / "loop1.png")
    with open(tmp_path / "sparse.png", "wb") as fh:
        fh.truncate(64 << 30)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    random_image(tmp_path / "good.png")
    names = ["fifo.png", "fifo.mp4", "pipe.gif", "zero.png", "null.mkv", "loop1.png", "sparse.png", "corrupt.png",
             "good.png"]
    result = cli("run", tiny_cyclegan, *names, "-o", "out", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    rows = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["good.png"]["status"] == "ok"
    for name in ("fifo.png", "fifo.mp4", "pipe.gif", "zero.png", "null.mkv"):
        assert "not a regular file" in rows[name]["error"], rows[name]
    assert "symbolic links" in rows["loop1.png"]["error"] and "too large" in rows["sparse.png"]["error"]
    assert "not an image" in rows["corrupt.png"]["error"]


@pytest.mark.parametrize("fixture", ["tiny_cyclegan", "tiny_pix2pix"])
def test_tiny_pictures_are_translated(cli, tmp_path, fixture, request):
    model = request.getfixturevalue(fixture)
    sizes = [(1, 1), (2, 3), (4, 4), (1, 50), (50, 1), (2000, 4)]
    for w, h in sizes:
        random_image(tmp_path / "in" / f"{w}x{h}.png", size=(w, h))
    result = cli("run", model, "in", "-o", "out")
    assert result.exit_code == 0, result.stderr
    for w, h in sizes:
        with Image.open(tmp_path / "out" / f"{w}x{h}.png") as im:
            assert im.size == (w, h)


@pytest.mark.parametrize("args, reason", [
    (("run", "M", "in.png", "--seed", "-1"), "seed must be between"),
    (("run", "M", "in.png", "--seed", str(2**70)), "seed must be between"),
    (("run", "M", "in.png", "-o", "file.txt"), "not a folder"),
    (("run", "M", "in.png", "-o", "file.txt/sub"), "not a folder"),
    (("sample", "cgan-digits", "-n", "100000000"), "n must be between"),
    (("train", "--family", "cyclegan", "--lr", "nan", "--data", "d", "--name", "r"), "lr must be"),
    (("train", "--family", "cyclegan", "--max-steps", "-3", "--data", "d", "--name", "r"), "max_steps"),
    (("run", "M", "in.png", "--max-memory", "1KB"), "too small"),
])
def test_bad_options_are_one_line_usage_errors(cli, tmp_path, tiny_cyclegan, args, reason):
    random_image(tmp_path / "in.png")
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "d").mkdir()
    args = [tiny_cyclegan if a == "M" else a for a in args]
    assert reason in one_line_error(cli(*args))
    assert not (tmp_path / "runs").exists()


def test_huge_load_size_is_refused_per_file(cli, tmp_path, tiny_cyclegan):
    random_image(tmp_path / "in.png")
    result = cli("run", tiny_cyclegan, "in.png", "--load-size", "1000000", "-o", "out")
    assert "over the limit" in one_line_error(result, code=1)


def test_long_file_names_still_work(cli, tmp_path, tiny_cyclegan):
    name = "n" * 240 + ".png"
    random_image(tmp_path / name)
    result = cli("run", tiny_cyclegan, name, "-o", "out")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / name).is_file()


def broken_cache_files(folder: Path) -> None:
    good = store.cached_path("tiny")
    metadata, table = weights.read_header(good)
    data = good.read_bytes()
    body = data[8 + struct.unpack("<Q", data[:8])[0]:]

    def write(name, header_bytes):
        (folder / f"{name}.safetensors").write_bytes(struct.pack("<Q", len(header_bytes)) + header_bytes + body)

    write("nested", b"[" * 100000 + b"]" * 100000)
    write("badmeta", json.dumps({"__metadata__": {"imgtrans.family": "cyclegan", "imgtrans.config": "{"}}).encode())
    huge = dict(metadata, **{"imgtrans.config": json.dumps({"netG": "resnet_6blocks", "ngf": 100000})})
    write("hugengf", json.dumps({"__metadata__": huge, **table}).encode())


def test_broken_cache_files_affect_only_their_model(cli, tmp_path, tiny_cyclegan):
    broken_cache_files(store.cache_dir())
    listed = cli("models", "--json")
    assert listed.exit_code == 0 and "Traceback" not in listed.stderr
    assert "nested too deeply" in listed.stderr and "'config' is not JSON" in listed.stderr
    names = [json.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert "tiny" in names and "vintage" in names and "hugengf" in names
    assert cli("weights", "list").exit_code == 0
    random_image(tmp_path / "in.png")
    refused = cli("run", "hugengf", "in.png")
    assert "does not match its architecture config" in one_line_error(refused)
    assert cli("run", tiny_cyclegan, "in.png", "-o", "out").exit_code == 0


# -- training and resume ---------------------------------------------------------------


@pytest.fixture
def digits(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "digits", "train", rng.integers(0, 256, (40, 28, 28)), np.arange(40) % 2)
    return tmp_path / "digits"


def quick_run(cli, data, name="g"):
    result = cli("train", "--family", "cgan", "--data", data, "--name", name, "--ngf", "4", "--ndf", "4",
                 "--batch-size", "20", "--epochs", "1", "--save-every", "1", "--sample-every", "100", "--max-steps", "1")
    assert result.exit_code == 0, result.stderr
    return Path("runs") / name


@pytest.mark.parametrize("damage", ["latest", "state", "networks", "config"])
def test_damaged_run_files_are_named_on_resume(cli, tmp_path, digits, damage):
    run = quick_run(cli, digits)
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())["stem"]
    target = {"latest": run / "checkpoints" / "latest.json", "state": run / "checkpoints" / f"{latest}.state.pt",
              "networks": run / "checkpoints" / f"{latest}.safetensors", "config": run / "config.toml"}[damage]
    target.write_bytes(target.read_bytes()[:20] + b"\xff\x00garbage")
    message = one_line_error(cli("train", "--resume", run, "--max-steps", "2"))
    assert target.name in message


def test_data_path_with_quotes_round_trips_through_config(cli, tmp_path, digits):
    odd = tmp_path / 'data "quoted" \\ path'
    digits.rename(odd)
    run = quick_run(cli, odd)
    resumed = cli("train", "--resume", run, "--max-steps", "2")
    assert resumed.exit_code == 0, resumed.stderr


def test_bad_training_data_is_named(cli, tmp_path, digits):
    (digits / "labels.txt").write_bytes(b"\xff\xfe\x00bad")
    assert "labels.txt: not readable UTF-8" in one_line_error(cli("train", "--family", "cgan", "--data", digits, "--name", "a"))
    (digits / "labels.txt").unlink()
    (digits / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert "not a readable IDX file" in one_line_error(cli("train", "--family", "cgan", "--data", digits, "--name", "b"))

    folders = tmp_path / "unpaired"
    for side in ("trainA", "trainB"):
        random_image(folders / side / "ok.png", size=(40, 40))
    bomb = Image.new("L", (12000, 12000))  # 144 MP: over the decompression-bomb limit
    bomb.save(folders / "trainA" / "bomb.png", optimize=True)
    message = one_line_error(cli("train", "--family", "cyclegan", "--data", folders, "--name", "c"))
    assert "bomb.png" in message and "too large" in message


def test_library_refuses_empty_and_non_finite_pictures(tiny_cyclegan):
    """Found by the hostile-input round 2: a 0x0 tensor looped forever in the
    padding arithmetic, and NaN input gave all-NaN output without a word."""
    import imgtrans

    model = imgtrans.load(tiny_cyclegan, device="cpu")
    for bad, reason in ((torch.zeros(1, 3, 0, 0), "empty picture"), (torch.zeros(0, 3, 8, 8), "empty picture"),
                        (torch.full((1, 3, 8, 8), float("nan")), "NaN or infinite"),
                        (torch.full((1, 3, 8, 8), float("inf")), "NaN or infinite")):
        with pytest.raises(imgtrans.ImgtransError, match=reason):
            model(bad)
    assert model(torch.rand(1, 3, 8, 8)).isfinite().all()


def test_ext_empty_and_stdout_full(cli, tiny_cyclegan, tmp_path):
    import subprocess
    import sys

    random_image(tmp_path / "a.png", size=(20, 16))
    result = cli("run", tiny_cyclegan, tmp_path / "a.png", "--ext", "")
    assert result.exit_code == 2 and "--ext is empty" in result.stderr
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "imgtrans", "run", tiny_cyclegan, str(tmp_path / "a.png"), "-o",
                               str(tmp_path / "out"), "--json"], stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1 and "cannot write to standard output (No space left on device)" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_into_an_unwritable_place_is_one_line(cli, tmp_path):
    from conftest import make_checkpoint

    make_checkpoint(tmp_path / "g.pth", "cyclegan", netG="resnet_6blocks", ngf=4)
    result = cli("weights", "import", tmp_path / "g.pth", "--name", "q", "-o", "/proc/imgtrans-nope/q.safetensors")
    assert result.exit_code == 2 and "cannot write /proc/imgtrans-nope/q.safetensors" in result.stderr
    assert "Traceback" not in result.stderr
