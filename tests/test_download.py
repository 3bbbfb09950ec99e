"""Catalogue weights downloaded over real HTTP from a local server (127.0.0.1)."""

import hashlib
import http.server
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import make_checkpoint, random_image
from PIL import Image

from imgtrans.checkpoints import store
from imgtrans.checkpoints.weights import read_info


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def do_GET(self):
        name = Path(self.path).name
        body = self.files.get(name)
        if body is None:
            self.send_error(404, "Not Found")
            return
        truncated = name.startswith("orange2apple")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if truncated else body)
        if truncated:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    make_checkpoint(folder / "ref.pth", "cyclegan")  # the published architecture: resnet_9blocks, ngf 64
    checkpoint = (folder / "ref.pth").read_bytes()
    Handler.files = {
        "horse2zebra.pth": checkpoint,
        "zebra2horse.pth": checkpoint,
        "orange2apple.pth": checkpoint,  # served truncated
        "style_monet.pth": b"<html><body>Moved</body></html>",
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def cache_is_clean():
    folder = store.cache_dir()
    return not folder.exists() or not any(folder.iterdir())


def test_pull_then_run(cli, server, tmp_path):
    before = cli("models", "--json").stdout
    assert '"name": "horse2zebra", "family": "cyclegan", "direction": "horse -> zebra", ' in before
    assert '"weights": "downloadable"' in before

    result = cli("weights", "pull", "horse2zebra", "--mirror", server)
    assert result.exit_code == 0, result.stderr
    info = read_info(store.cached_path("horse2zebra"))
    assert info.family == "cyclegan" and info.config["netG"] == "resnet_9blocks"
    assert info.source == f"{server}/cyclegan/pretrained_models/horse2zebra.pth"
    assert info.source_sha256 == hashlib.sha256(Handler.files["horse2zebra.pth"]).hexdigest()
    assert not list(store.cache_dir().glob("*.part")) and not list(store.cache_dir().glob(".*"))
    # the card's sha256, unknown before (the authors publish none), is the one recorded at download
    assert json.loads(cli("info", "horse2zebra", "--json").stdout)["source_sha256"] == info.source_sha256

    random_image(tmp_path / "horse.jpg", size=(30, 22))
    run = cli("run", "horse2zebra", "horse.jpg", "-o", "out")
    assert run.exit_code == 0, run.stderr
    with Image.open(tmp_path / "out" / "horse.png") as im:
        assert im.size == (30, 22)


def test_run_downloads_on_first_use_with_mirror_env(cli, server, tmp_path, monkeypatch):
    monkeypatch.setenv("IMGTRANS_MIRROR", server)
    random_image(tmp_path / "zebra.png", size=(16, 16))
    result = cli("run", "zebra2horse", "zebra.png", "-o", "out")
    assert result.exit_code == 0, result.stderr
    assert "downloading zebra2horse" in result.stderr
    assert (tmp_path / "out" / "zebra.png").is_file() and store.cached_path("zebra2horse").is_file()


@pytest.mark.parametrize(
    "model,reason",
    [
        ("apple2orange", "HTTP 404"),
        ("orange2apple", "received"),
        ("style_monet", "not a PyTorch checkpoint"),
    ],
)
def test_failures_are_one_line_exit_2_and_leave_nothing(cli, server, tmp_path, model, reason):
    random_image(tmp_path / "a.png", size=(16, 16))
    result = cli("run", model, "a.png", "--mirror", server)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert reason in errors[0] and f"{server}/cyclegan/pretrained_models/{model}.pth" in errors[0]
    assert f"imgtrans weights import FILE --name {model}" in errors[0]
    assert cache_is_clean()
    assert not (tmp_path / "imgtrans-out").exists()


def test_connection_refused_fails_fast(cli, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    result = cli("weights", "pull", "horse2zebra", "--mirror", f"http://127.0.0.1:{port}")
    assert result.exit_code == 2
    assert time.monotonic() - start < 10
    assert "cannot connect" in result.stderr and "refused" in result.stderr.lower()
    assert cache_is_clean()


def test_pull_unknown_and_shipped(cli):
    assert cli("weights", "pull", "horse2zeebra").exit_code == 2
    shipped = cli("weights", "pull", "vintage")
    assert shipped.exit_code == 0 and "already shipped" in shipped.stderr
