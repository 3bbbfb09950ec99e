"""`imgtrans serve`'s HTTP API, with a real uvicorn server on 127.0.0.1 and
real HTTP requests (httpx)."""

import io
import socket
import threading
import time

import httpx
import numpy as np
import pytest
import uvicorn
from conftest import random_image
from PIL import Image

from imgtrans.registry import Registry
from imgtrans.plugins import make_plugin_manager
from imgtrans.server import ServeConfig, create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """uvicorn in a thread, stopped at the end of the test."""

    def __init__(self, **options):
        self.port = free_port()
        config = ServeConfig(port=self.port, **options)
        app = create_app(config, registry=Registry.from_plugin_manager(make_plugin_manager()))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def test_translate_gives_the_pixels_of_imgtrans_run(cli, tiny_cyclegan, tmp_path):
    photo = random_image(tmp_path / "photo.png", size=(45, 33))
    assert cli("run", tiny_cyclegan, photo, "-o", tmp_path / "out", "--precision", "fp32").exit_code == 0
    expected = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    with Server() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert listed[tiny_cyclegan]["family"] == "cyclegan" and listed["vintage"]["weights"] == "shipped"
        multipart = client.post("/v1/translate", files={"image": photo.read_bytes()},
                                data={"model": tiny_cyclegan, "precision": "fp32"})
        assert multipart.status_code == 200, multipart.text
        assert multipart.headers["content-type"] == "image/png"
        assert multipart.headers["x-imgtrans-device"] == "cpu" and multipart.headers["x-imgtrans-streamed"] == "false"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(multipart.content))), expected)
        raw = client.post("/v1/translate", params={"model": tiny_cyclegan, "precision": "fp32", "format": "webp"},
                          content=photo.read_bytes())
        assert raw.status_code == 200 and raw.headers["content-type"] == "image/webp"
        assert Image.open(io.BytesIO(raw.content)).size == (45, 33)
        assert tiny_cyclegan in client.get("/readyz").json()["warm"]


BAD = [
    ({"params": {"model": "nope"}, "content": b"x"}, 404, "unknown model 'nope'"),
    ({"params": {"model": "MODEL"}, "content": b"not a picture"}, 422, "not an image"),
    ({"params": {"model": "MODEL", "format": "exe"}, "content": b"x"}, 400, "unknown format"),
    ({"params": {"model": "MODEL", "seed": "-1"}, "content": b"x"}, 400, "seed must be"),
    ({"params": {"model": "MODEL", "precision": "fp64"}, "content": "PICTURE"}, 400, "unknown precision"),
    ({"params": {"model": "cgan-digits"}, "content": "PICTURE"}, 400, "generates images from labels"),
    ({"params": {"model": "MODEL"}, "content": b"\0" * (2 << 20)}, 413, "upload over the limit"),
    ({"params": {"model": "../../etc/passwd"}, "content": b"x"}, 404, "unknown model"),
]


def test_bad_requests_are_json_4xx_never_a_traceback(tiny_cyclegan, tmp_path):
    photo = random_image(tmp_path / "photo.png", size=(20, 16)).read_bytes()
    with Server(max_upload=1 << 20) as client:
        for request, status, message in BAD:
            params = {k: (tiny_cyclegan if v == "MODEL" else v) for k, v in request["params"].items()}
            content = photo if request["content"] == "PICTURE" else request["content"]
            response = client.post("/v1/translate", params=params, content=content)
            assert response.status_code == status, (params, response.text)
            assert message in response.json()["error"] and "Traceback" not in response.text
        assert client.get("/v1/nothing").status_code == 404 and "error" in client.get("/v1/nothing").json()
        assert client.get("/v1/translate").status_code == 405
        assert client.post("/v1/translate", files={"other": b"x"}, data={"model": tiny_cyclegan}).status_code == 400
        assert "access-control-allow-origin" not in client.get("/healthz").headers  # no CORS unless asked


def test_host_header_token_and_cors(tiny_cyclegan):
    with Server(token="s3cret", cors="http://app.example") as client:
        rebinding = client.get("/v1/models", headers={"host": "evil.example"})
        assert rebinding.status_code == 421 and "not served here" in rebinding.json()["error"]
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/v1/models", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://app.example"
        assert client.get("/healthz").status_code == 200  # liveness needs no token


def test_only_the_models_asked_for_are_served(tiny_cyclegan):
    with Server(models=(tiny_cyclegan,)) as client:
        assert [m["name"] for m in client.get("/v1/models").json()["models"]] == [tiny_cyclegan]
        assert client.post("/v1/translate", params={"model": "vintage"}, content=b"x").status_code == 404


@pytest.mark.parametrize("args,message", [
    (["--host", "0.0.0.0"], "add --allow-remote"),
    (["--models", "vintagee"], "unknown model 'vintagee'"),
])
def test_serve_refuses_before_listening(cli, args, message):
    result = cli("serve", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_a_burst_is_answered_or_refused_with_503_none_lost(tiny_cyclegan, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    photo = random_image(tmp_path / "big.png", size=(640, 480)).read_bytes()
    with Server(queue=2) as client:
        def call(_):
            with httpx.Client(base_url=str(client.base_url), timeout=120) as own:
                response = own.post("/v1/translate", params={"model": tiny_cyclegan}, content=photo)
                return response.status_code, response.headers.get("retry-after")

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(call, range(16)))
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {200, 503} and len(answers) == 16
    assert statuses.count(200) >= 3 and statuses.count(503) >= 1, statuses  # one computes, two wait, the rest refused
    assert all(retry == "1" for status, retry in answers if status == 503)


def test_sample_grid_equals_imgtrans_sample_and_the_api_is_described(cli, tmp_path):
    made = cli("sample", "cgan-digits", "-n", "3", "--seed", "5", "--label", "1", "--label", "7", "-o", tmp_path / "g.png")
    assert made.exit_code == 0, made.stderr
    with Server() as client:
        grid = client.post("/v1/sample", params={"model": "cgan-digits", "labels": "1,7", "n": "3", "seed": "5"})
        assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(grid.content))), np.asarray(Image.open(tmp_path / "g.png")))
        assert client.post("/v1/sample", params={"model": "cgan-digits", "n": "1000"}).status_code == 400
        assert client.post("/v1/sample", params={"model": "cgan-digits", "labels": "dragon"}).status_code == 400
        assert client.post("/v1/sample", params={"model": "vintage"}).status_code == 400
        spec = client.get("/openapi.json").json()
        assert set(spec["paths"]) == {"/healthz", "/readyz", "/v1/models", "/v1/translate", "/v1/sample"}
        page = client.get("/docs")
        assert page.status_code == 200 and "POST /v1/translate" in page.text and "http" not in page.text.split("</style>")[0]
