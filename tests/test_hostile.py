"""Hostile input, class by class: nothing outside the chosen place, no
tracebacks, no hangs, and the rest of a batch still finishes."""

import http.server
import io
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_image, write_idx
from PIL import Image

from imgtrans.checkpoints import store, weights
from imgtrans.checkpoints.download import DownloadError, fetch


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
                 "--batch-size", "20", "--epochs", "1", "--save-every", "1", "--sample-every", "100",
                 "--max-steps", "1")
    assert result.exit_code == 0, result.stderr
    return Path("runs") / name


@pytest.mark.parametrize("damage", ["latest", "state", "networks", "config"])
def test_damaged_run_files_are_named_on_resume(cli, tmp_path, digits, damage):
    run = quick_run(cli, digits)
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())["stem"]
    target = {"latest": run / "checkpoints" / "latest.json", "state": run / "checkpoints" / f"{latest}.state.pt",
              "networks": run / "checkpoints" / f"{latest}.safetensors", "config": run / "config.toml"}[damage]
    target.write_bytes(target.read_bytes()[:20] + b"\xff\x00garbage")
    # a damaged run file is a failed input (1); a config that is not TOML, a usage error (2)
    message = one_line_error(cli("train", "--resume", run, "--max-steps", "2"), code=2 if damage == "config" else 1)
    assert target.name in message


def test_data_path_with_quotes_round_trips_through_config(cli, tmp_path, digits):
    odd = tmp_path / 'data "quoted" \\ path'
    digits.rename(odd)
    run = quick_run(cli, odd)
    resumed = cli("train", "--resume", run, "--max-steps", "2")
    assert resumed.exit_code == 0, resumed.stderr


def test_bad_training_data_is_named(cli, tmp_path, digits):
    (digits / "labels.txt").write_bytes(b"\xff\xfe\x00bad")
    result = cli("train", "--family", "cgan", "--data", digits, "--name", "a")
    assert "labels.txt: not readable UTF-8" in one_line_error(result)
    (digits / "labels.txt").unlink()
    (digits / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = cli("train", "--family", "cgan", "--data", digits, "--name", "b")
    assert "not a readable IDX file" in one_line_error(result)

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


@pytest.mark.slow
def test_ext_empty_and_stdout_full(cli, tiny_cyclegan, tmp_path):
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


# -- round 2: leftovers, resource limits, signals, two at once, streams ------------


def imgtrans_process(*args, **popen) -> subprocess.Popen:
    """`python -m imgtrans ARGS` as a real process (in the test's folder and home)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "imgtrans", *map(str, args)], text=True, **popen)


def finished(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def errors_of(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if "error:" in line]


def test_long_paths_and_an_output_linked_outside_fail_alone(cli, tmp_path, tiny_cyclegan):
    """A path over the system's limit (ENAMETOOLONG) was a traceback that
    stopped the batch; an output name that is a dangling link out of -o
    stopped it with a usage error."""
    too_long = "/".join(["d" * 200] * 25) + "/x.png"
    random_image(tmp_path / "a.png")
    random_image(tmp_path / "b.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").symlink_to(tmp_path / "elsewhere" / "evil.png")
    result = cli("run", tiny_cyclegan, too_long, "d" * 300 + ".png", "a.png", "b.png", "-o", "out", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    rows = {r["input"][-10:]: r for r in map(json.loads, result.stdout.splitlines())}
    assert "File name too long" in rows[too_long[-10:]]["error"]
    assert "File name too long" in rows["d" * 6 + ".png"]["error"]
    assert "would be outside" in rows["a.png"]["error"] and rows["b.png"]["status"] == "ok"
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("progressive", [False, True])
def test_a_short_jpeg_declaring_a_huge_picture_is_refused_as_truncated(progressive):
    """libjpeg decodes a JPEG that ends early at an end-of-image marker as
    grey: 780 bytes declaring 9000x9000 became 81 MP to translate."""
    from imgtrans.io import imageio

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)).save(
        buffer, "JPEG", progressive=progressive)
    data = bytearray(buffer.getvalue())
    frame = data.find(b"\xff\xc2" if progressive else b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", 9000, 9000)
    with pytest.raises(imageio.ImageError, match="truncated JPEG: .* bytes cannot hold the 9000x9000 pixels"):
        imageio.decode(bytes(data))
    flat = io.BytesIO()  # the most compressible real picture still passes: a flat one at the lowest quality
    Image.new("L", (2400, 1800), 128).save(flat, "JPEG", quality=1, progressive=progressive)
    assert imageio.decode(flat.getvalue()).size == (2400, 1800)


def address_space_limit(extra: int):
    """A child's preexec_fn: the address space of a process that has imported
    torch and imgtrans's pipeline, plus `extra` bytes."""
    probe = subprocess.run([sys.executable, "-c", "import torch, imgtrans.inference.pipeline, imgtrans.cli\n"
                            "print(open('/proc/self/status').read())"], capture_output=True, text=True, check=True)
    vm_kb = next(int(line.split()[1]) for line in probe.stdout.splitlines() if line.startswith("VmPeak"))
    limit = vm_kb * 1024 + extra
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.slow
def test_tiny_pictures_translate_under_an_address_space_limit(tmp_path, tiny_cyclegan):
    """Every file read reserved 2 GiB (`read(limit + 1)`): a MemoryError
    traceback under `ulimit -v` on a 1 KB picture."""
    random_image(tmp_path / "a.png")
    random_image(tmp_path / "b.png", size=(8, 8))
    limit = address_space_limit(1 << 30)
    code, _, err = finished(imgtrans_process("run", tiny_cyclegan, "a.png", "b.png", "-o", "out", preexec_fn=limit))
    assert code == 0 and not errors_of(err), err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    with open(tmp_path / "a.png", "rb") as picture:
        piped = imgtrans_process("run", tiny_cyclegan, "-", stdin=picture, stdout=subprocess.DEVNULL,
                                 preexec_fn=limit)
        code, _, err = finished(piped)
    assert code == 0 and not errors_of(err), err

    def too_small_for_torch():
        resource.setrlimit(resource.RLIMIT_AS, (600 << 20, 600 << 20))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    process = imgtrans_process("run", tiny_cyclegan, "a.png", "-o", "out2", env=env, preexec_fn=too_small_for_torch)
    code, _, err = finished(process)
    [line] = errors_of(err)
    assert code == 2 and "imgtrans: error: cannot load torch (" in line and "(ulimit -v)" in line


@pytest.mark.slow
def test_a_full_temporary_folder_fails_only_the_streamed_picture(tmp_path, tiny_cyclegan):
    """A large picture streams through files in the temporary folder; when
    they cannot be written (a full disk: here a file-size limit, EFBIG), an
    OSError traceback ended the batch."""
    random_image(tmp_path / "a.png")
    random_image(tmp_path / "large.png", size=(800, 600))
    random_image(tmp_path / "z.png")
    (tmp_path / "tmp").mkdir()
    limit = 1 << 20

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    process = imgtrans_process("run", tiny_cyclegan, "a.png", "large.png", "z.png", "-o", "out", "--max-memory",
                               "16MB", env=env, preexec_fn=small_files)
    code, _, err = finished(process)
    [error] = errors_of(err)
    assert code == 1 and "large.png: translation failed (cannot write to the temporary folder" in error
    assert "File too large" in error and str(tmp_path / "tmp") in error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "z.png"]
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_batch_cleanly_and_the_same_command_finishes_it(tmp_path, tiny_cyclegan, signum):
    """SIGTERM killed the process where it stood (temporary files left);
    Ctrl-C gave a KeyboardInterrupt traceback."""
    names = ["a.png", "large1.png", "large2.png", "b.png"]
    for i, name in enumerate(names):
        random_image(tmp_path / name, size=(900, 700) if name.startswith("large") else (40, 30), seed=i)
    command = ("run", tiny_cyclegan, *names, "-o", "out", "--json")
    process = imgtrans_process(*command)
    first = json.loads(process.stdout.readline())  # a.png is reported once large1.png is translated
    process.send_signal(signum)
    code, out, err = finished(process, timeout=30)
    assert first["status"] == "ok" and code == 128 + signum
    [line] = errors_of(err)
    assert f"interrupted by {signal.Signals(signum).name}:" in line and "not done" in line
    assert "the same command again does the rest" in line
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not [n for n in left if n.startswith(".")] and len(left) < len(names)
    for name in left:
        with Image.open(tmp_path / "out" / name) as written:
            written.load()  # complete, never half-written
    code, out, err = finished(imgtrans_process(*command))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)
    statuses = {Path(row["input"]).name: row["status"] for row in map(json.loads, out.splitlines())}
    assert sorted(name for name, status in statuses.items() if status == "skipped") == left


@pytest.mark.slow
def test_a_signal_while_waiting_for_stdin_is_one_line(tmp_path, tiny_cyclegan):
    process = imgtrans_process("run", tiny_cyclegan, "-", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    process.stdin.write("\x89PNG")  # the start of a picture; the rest never comes
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while not reading_stdin(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    code, _, err = finished(process, timeout=30)
    assert code == 143 and errors_of(err) == ["imgtrans: error: interrupted by SIGTERM: nothing translated; "
                                                "the same command starts again"]


def reading_stdin(pid: int) -> bool:
    """Whether the process's main thread is blocked reading its stdin pipe
    (the model loaded: stdin is read last)."""
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        call = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    read = {"x86_64": "0", "aarch64": "63"}.get(os.uname().machine)
    return "pipe" in wchan or (call[:2] == [read, "0x0"])


@pytest.mark.slow
def test_two_processes_writing_one_output(tmp_path, tiny_cyclegan):
    """Without --overwrite one wins and the other says the output exists; with
    it both finish with the same bytes. Never a half-written file."""
    random_image(tmp_path / "a.png", size=(300, 200))
    for extra in ((), ("--overwrite",)):
        processes = [imgtrans_process("run", tiny_cyclegan, "a.png", "-o", "out", "--json", "--seed", "1", *extra)
                     for _ in range(2)]
        outcomes = [finished(p) for p in processes]
        statuses = sorted(json.loads(out)["status"] for _, out, _ in outcomes)
        assert all(code == 0 for code, _, _ in outcomes), outcomes
        assert statuses == (["ok", "ok"] if extra else ["ok", "skipped"])
        assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]
        with Image.open(tmp_path / "out" / "a.png") as written:
            assert written.size == (300, 200)
            written.load()


@pytest.mark.slow
def test_two_processes_importing_one_cache_entry(tmp_path):
    from conftest import make_checkpoint

    make_checkpoint(tmp_path / "g.pth", "cyclegan", netG="resnet_6blocks", ngf=4)
    command = ("weights", "import", "g.pth", "--name", "same", "--plugin", "cyclegan", "--netG", "resnet_6blocks",
               "--ngf", "4", "--force")
    outcomes = [finished(p) for p in [imgtrans_process(*command) for _ in range(3)]]
    assert all(code == 0 for code, _, _ in outcomes), outcomes
    assert [p.name for p in store.cache_dir().iterdir()] == ["same.safetensors"]
    assert weights.load_tensors(store.cached_path("same"))


@pytest.mark.slow
def test_first_calls_of_separately_loaded_models_on_threads(tiny_cyclegan):
    """fx traces a model's first call by patching nn.Module.__call__ for the
    whole process: another model's call meanwhile failed with "NameError:
    module is not installed as a submodule" (loaded models share nothing)."""
    import imgtrans
    from imgtrans.hub import default_registry

    registry = default_registry()
    models = [imgtrans.load(tiny_cyclegan, device="cpu", registry=registry) for _ in range(25)]
    picture = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    expected = models[0](picture)
    failures, results = [], []
    start = threading.Barrier(4)

    def first_calls(mine):
        start.wait()
        for model in mine:
            try:
                results.append(model(picture))
            except Exception as exc:  # what the test looks for
                failures.append(repr(exc))

    threads = [threading.Thread(target=first_calls, args=(models[1 + i :: 4],)) for i in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often: a trace and another call overlap
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == [] and len(results) == 24
    assert all(np.array_equal(r, expected) for r in results)


def test_a_download_into_an_unwritable_cache_is_one_line(tmp_path):
    random_image(tmp_path / "a.png")
    env = dict(os.environ, IMGTRANS_HOME="/proc/imgtrans-nope", IMGTRANS_MIRROR="http://127.0.0.1:9")
    code, _, err = finished(imgtrans_process("run", "horse2zebra", "a.png", "-o", "out", env=env))
    [line] = errors_of(err)
    assert code == 2 and "cannot write into /proc/imgtrans-nope/weights (No such file or directory)" in line


def test_no_home_folder_is_one_line_and_shipped_models_still_run(tmp_path):
    random_image(tmp_path / "a.png")
    try:  # an account with no entry in the password database: root switches to one, if it can run Python
        subprocess.run([sys.executable, "-c", ""], user=54321, group=54321, extra_groups=[], check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs root, and a Python that another account can run")
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "IMGTRANS_HOME", "XDG_CACHE_HOME")}
    tmp_path.chmod(0o777)
    for command, status in ((("models",), 2), (("run", "vintage", "a.png", "-o", "out"), 0)):
        process = imgtrans_process(*command, env=env, user=54321, group=54321, extra_groups=[])
        code, _, err = finished(process)
        assert code == status and "Traceback" not in err, err
        if status:
            assert "HOME is not set and this user has no home folder; set IMGTRANS_HOME" in err


@pytest.mark.slow
def test_closed_and_broken_standard_streams(tmp_path, tiny_cyclegan):
    """A closed stdin or stdout, or a reader that goes away, were tracebacks."""
    random_image(tmp_path / "a.png", size=(400, 300))
    close_stdin = imgtrans_process("run", tiny_cyclegan, "-", stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
    code, _, err = finished(close_stdin)
    assert code == 1 and errors_of(err) == ["imgtrans: error: <stdin>: standard input is closed (give a picture on it, "
                                            "or name files)"]
    close_stdout = imgtrans_process("run", tiny_cyclegan, "a.png", "-o", "out", "--json",
                                    preexec_fn=lambda: os.close(1))
    code, _, err = finished(close_stdout)
    assert code == 1 and errors_of(err) == ["imgtrans: error: cannot write to standard output (it is closed)"]
    for command in (("run", tiny_cyclegan, "-"), ("models", "--json")):
        with open(tmp_path / "a.png", "rb") as picture:
            process = imgtrans_process(*command, stdin=picture, stdout=subprocess.PIPE)
            if "-" in command:  # `| head -c 10`: the picture is far larger than the pipe holds
                process.stdout.buffer.read(10)
            process.stdout.close()  # the reader goes away (before the short model list is written)
            code = process.wait(timeout=120)
            err = process.stderr.read()
        assert code == 141 and not errors_of(err), (command, err)


def test_a_deleted_working_directory_is_named(tmp_path, tiny_cyclegan):
    """torch's MKL died with "Cannot load libtorch_cpu.so", which did not say why."""
    random_image(tmp_path / "a.png")
    gone = tmp_path / "gone"
    gone.mkdir()

    def enter_and_delete():
        os.chdir(gone)
        os.rmdir(gone)

    process = imgtrans_process("run", tiny_cyclegan, tmp_path / "a.png", "-o", tmp_path / "out",
                               preexec_fn=enter_and_delete)
    code, _, err = finished(process)
    assert code == 2 and errors_of(err) == ["imgtrans: error: the current folder no longer exists (deleted or moved): "
                                            "libraries such as torch cannot load from it; cd into an existing folder"]


@pytest.mark.parametrize("call, reason", [
    (lambda m, f: m.translate_frames(f), "frames must be a list"),
    (lambda m, f: m.translate_frames([]), "no frames given"),
    (lambda m, f: m.translate_frames([f, f[:8]]), "one call takes frames of one size"),
    (lambda m, f: m.translate_frames([f], statistics=5), "statistics must be a list of dicts"),
    (lambda m, f: m.translate_frames([f], statistics=[{}, {}]), "statistics for 2 frames given with 1"),
    (lambda m, f: m.frame_statistics(None), "frames must be a list"),
    (lambda m, f: m.translate_video(None, "out.mp4"), "source must be a file path"),
    (lambda m, f: m.translate_video("in.mp4", "out.mp4", ext="xyz"), "ext must be one of"),
    (lambda m, f: m.translate_video("in.png", "out.png"), "not a video file name"),
    (lambda m, f: m.translate_video("in.mp4", "out.mp4", crf=99), "crf must be a whole number from 0 to 51"),
    (lambda m, f: m.translate_video("in.mp4", "out.mp4", batch_size=0), "batch_size must be a whole number"),
    (lambda m, f: m.translate_video("in.mp4", "out.mp4", max_pixels=-1), "max_pixels must be a positive"),
    (lambda m, f: m.translate_video("in.mp4", "out.mp4", stats_window="x"), "stats_window must be a positive"),
])
def test_library_misuse_of_video_arguments_is_an_imgtrans_error(tiny_cyclegan, call, reason):
    """They ended in KeyError, TypeError or ValueError deep inside."""
    import imgtrans

    model = imgtrans.load(tiny_cyclegan, device="cpu")
    with pytest.raises(imgtrans.ImgtransError, match=reason):
        call(model, np.zeros((16, 16, 3), np.uint8))


class Trickle(http.server.BaseHTTPRequestHandler):
    """A checkpoint that arrives slowly (and never completes)."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(100 << 20))
        self.end_headers()
        try:
            for _ in range(2000):
                self.wfile.write(b"x" * 4096)
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_a_signal_during_a_download_leaves_nothing_in_the_cache(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    random_image(tmp_path / "a.png")
    env = dict(os.environ, IMGTRANS_MIRROR=f"http://127.0.0.1:{httpd.server_address[1]}")
    try:
        process = imgtrans_process("run", "horse2zebra", "a.png", "-o", "out", env=env)
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in store.cache_dir().glob(".download.*.part")):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        code, _, err = finished(process, timeout=30)
    finally:
        httpd.shutdown()
    assert code == 143 and errors_of(err) == ["imgtrans: error: interrupted by SIGTERM: nothing translated; the same "
                                              "command starts again"]
    assert list(store.cache_dir().iterdir()) == [] and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_two_processes_downloading_one_model(tmp_path):
    """Each streams into its own partial file and renames the converted model
    into place: both finish, with one whole cache file and the same output."""
    from conftest import make_checkpoint

    make_checkpoint(tmp_path / "h2z.pth", "cyclegan", netG="resnet_9blocks", ngf=64)
    checkpoint = (tmp_path / "h2z.pth").read_bytes()

    class Serve(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(checkpoint)))
            self.end_headers()
            self.wfile.write(checkpoint)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    random_image(tmp_path / "a.png", size=(16, 16))
    env = dict(os.environ, IMGTRANS_MIRROR=f"http://127.0.0.1:{httpd.server_address[1]}")
    try:
        outcomes = [finished(p) for p in [imgtrans_process("run", "horse2zebra", "a.png", "-o", f"out{i}", env=env)
                                          for i in range(2)]]
    finally:
        httpd.shutdown()
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    assert [p.name for p in store.cache_dir().iterdir()] == ["horse2zebra.safetensors"]
    assert (tmp_path / "out0" / "a.png").read_bytes() == (tmp_path / "out1" / "a.png").read_bytes()
