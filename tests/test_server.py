"""`imgtrans serve`'s HTTP API, with a real uvicorn server on 127.0.0.1 and
real HTTP requests (httpx, or a raw socket where a client library would
tidy the request): endpoints, jobs, training runs, and a hostile set."""

import io
import json
import os
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from conftest import random_image
from PIL import Image

from imgtrans.plugins import make_plugin_manager
from imgtrans.registry import Registry
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
        self.app = create_app(config, registry=Registry.from_plugin_manager(make_plugin_manager()))
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error"))
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
    (["--runs", "no-such-folder"], "--runs no-such-folder: not a folder"),
    (["--max-job-upload", "lots"], "bad memory size"),
])
def test_serve_refuses_before_listening(cli, args, message):
    result = cli("serve", *args)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.slow
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
    made = cli("sample", "cgan-digits", "-n", "3", "--seed", "5", "--label", "1", "--label", "7",
               "-o", tmp_path / "g.png")
    assert made.exit_code == 0, made.stderr
    with Server() as client:
        grid = client.post("/v1/sample", params={"model": "cgan-digits", "labels": "1,7", "n": "3", "seed": "5"})
        assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
        expected = np.asarray(Image.open(tmp_path / "g.png"))
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(grid.content))), expected)
        assert client.post("/v1/sample", params={"model": "cgan-digits", "n": "1000"}).status_code == 400
        assert client.post("/v1/sample", params={"model": "cgan-digits", "labels": "dragon"}).status_code == 400
        assert client.post("/v1/sample", params={"model": "vintage"}).status_code == 400
        spec = client.get("/openapi.json").json()
        assert set(spec["paths"]) == {"/healthz", "/readyz", "/v1/models", "/v1/translate", "/v1/sample", "/v1/jobs",
                                      "/v1/jobs/{id}", "/v1/jobs/{id}/events", "/v1/jobs/{id}/result", "/v1/runs",
                                      "/v1/runs/{name}", "/v1/runs/{name}/samples/{file}"}
        page = client.get("/docs")
        assert page.status_code == 200 and "POST /v1/translate" in page.text
        assert "http" not in page.text.split("</style>")[0]


# ---- the page -------------------------------------------------------------------------------------------------
def test_the_page_is_served_from_the_package_and_loads_nothing_from_elsewhere():
    web = Path(__file__).parent.parent / "imgtrans" / "web"
    with Server() as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        for name in ("app.js", "style.css"):
            asset = client.get(f"/ui/{name}")
            assert asset.status_code == 200 and asset.content == (web / name).read_bytes()
        assert client.get("/ui/index.html").status_code == 404  # only the listed files
    for path in web.iterdir():  # no CDN, no address elsewhere (the SVG namespace is a name, not a request)
        text = path.read_text().replace('"http://www.w3.org/2000/svg"', "")
        assert "http:" not in text and "https:" not in text and '"//' not in text and "url(" not in text, path
    with Server(ui=False) as client:
        assert client.get("/").status_code == 404 and "--no-ui" in client.get("/").json()["error"]
        assert client.get("/ui/app.js").status_code == 404
        assert client.get("/v1/models").status_code == 200


def test_with_a_token_the_page_loads_but_the_api_needs_it():
    with Server(token="t0k") as client:
        assert client.get("/").status_code == 200 and client.get("/ui/app.js").status_code == 200
        assert client.get("/v1/runs").status_code == 401 and client.get("/v1/jobs/x").status_code == 401


# ---- training runs ----------------------------------------------------------------------------------------
def fake_run(folder: Path, steps: int = 3, finished: bool = True) -> Path:
    """The files `imgtrans train` writes that the server reads (the browser test uses a real run)."""
    (folder / "samples").mkdir(parents=True)
    (folder / "config.toml").write_text('family = "cyclegan"\ncrop_size = 32\n')
    lines = [json.dumps({"step": i, "epoch": 1, "time": 0.1, "lr": 2e-4, "G_A": 1 / i, "D_A": 0.5})
             for i in range(1, steps + 1)]
    (folder / "losses.jsonl").write_text("\n".join(lines) + '\n{"step": 99, "G_A"')  # a line being written
    random_image(folder / "samples" / "step-00000002.png", size=(8, 8))
    if finished:
        (folder / "summary.json").write_text(json.dumps({"step": steps}))
    return folder


def test_runs_are_listed_and_read_with_their_curves_grids_config_and_summary(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs / "done")
    fake_run(runs / "going", steps=2, finished=False)
    (runs / "not-a-run").mkdir()
    (runs / "stray.txt").write_text("x")
    with Server(runs=runs) as client:
        listed = client.get("/v1/runs").json()["runs"]
        assert listed == [{"name": "done", "family": "cyclegan", "step": 3, "finished": True},
                          {"name": "going", "family": "cyclegan", "step": 2, "finished": False}]
        run = client.get("/v1/runs/done").json()
        assert [r["step"] for r in run["losses"]] == [1, 2, 3] and run["loss_keys"] == ["D_A", "G_A"]
        assert run["config"] == {"family": "cyclegan", "crop_size": 32} and run["summary"] == {"step": 3}
        assert run["samples"] == [{"step": 2, "url": "/v1/runs/done/samples/step-00000002.png"}]
        grid = client.get(run["samples"][0]["url"])
        assert grid.status_code == 200
        assert grid.content == (runs / "done" / "samples" / "step-00000002.png").read_bytes()
        going = client.get("/v1/runs/going").json()
        assert going["finished"] is False and going["summary"] is None
    with Server() as client:
        refused = client.get("/v1/runs")
        assert refused.status_code == 404 and "--runs" in refused.json()["error"]


def test_a_long_runs_curve_is_thinned(tmp_path):
    run = tmp_path / "runs" / "long"
    fake_run(run)
    lines = [json.dumps({"step": i, "G_A": 1.0 if i < 10_000 else float("nan")}) for i in range(1, 10_001)]
    (run / "losses.jsonl").write_text("\n".join(lines) + "\n")  # the last step diverged: NaN
    with Server(runs=tmp_path / "runs") as client:
        losses = client.get("/v1/runs/long").json()["losses"]  # strict JSON: NaN is null
    steps = [r["step"] for r in losses]
    assert len(steps) <= 2001 and steps[0] == 1 and steps[-1] == 10_000 and losses[-1]["G_A"] is None


# ---- jobs -------------------------------------------------------------------------------------------------------
def clip(path: Path, n: int, size=(48, 40)) -> Path:
    from test_video import pan, write_clip

    return write_clip(path, pan(n=n, size=size, step=1), audio=False)


def events(client, job_id: str) -> list[dict]:
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        return [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]


def test_a_video_job_gives_imgtrans_runs_frames_with_progress(cli, tiny_cyclegan, tmp_path):
    from test_video import read_clip

    source = clip(tmp_path / "clip.mp4", 12)
    assert cli("run", tiny_cyclegan, source, "-o", tmp_path / "out", "--precision", "fp32").exit_code == 0
    server = Server()
    with server as client:
        started = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "clip.mp4", "precision": "fp32"},
                              content=source.read_bytes())
        assert started.status_code == 202 and started.headers["location"] == f"/v1/jobs/{started.json()['id']}"
        job = started.json()
        assert job["kind"] == "video" and job["state"] in ("queued", "running")
        seen = events(client, job["id"])
        assert seen[-1]["state"] == "done" and seen[-1]["done"] == seen[-1]["total"] == 12
        assert {e["state"] for e in seen} <= {"queued", "running", "done"} and seen[-1]["unit"] == "frames"
        result = client.get(seen[-1]["result"])
        assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
        (tmp_path / "api.mp4").write_bytes(result.content)
        folder = server.app.state.jobs.jobs[job["id"]].folder
        assert folder.parent == server.app.state.jobs.root and folder.is_dir()
        deleted = client.delete(f"/v1/jobs/{job['id']}")
        assert deleted.status_code == 200 and not folder.exists()
        assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
    got, _, _ = read_clip(tmp_path / "api.mp4")
    expected, _, _ = read_clip(tmp_path / "out" / "clip.mp4")
    assert len(got) == 12 and all(np.array_equal(a, b) for a, b in zip(got, expected))
    assert not server.app.state.jobs.root.exists()  # the server's temporary folder goes at shutdown


def test_a_picture_job_gives_the_translate_pixels(tiny_cyclegan, tmp_path):
    photo = random_image(tmp_path / "photo.png", size=(40, 30)).read_bytes()
    with Server() as client:
        direct = client.post("/v1/translate", params={"model": tiny_cyclegan}, content=photo)
        job = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "photo.png"}, content=photo).json()
        assert job["kind"] == "picture"
        assert client.get(f"/v1/jobs/{job['id']}/result").status_code in (200, 409)  # 409 while it runs
        assert events(client, job["id"])[-1]["state"] == "done"
        result = client.get(f"/v1/jobs/{job['id']}/result")
        assert result.headers["content-type"] == "image/png" and result.content == direct.content


@pytest.mark.slow
def test_a_large_picture_job_reports_rows_and_stops_when_cancelled(tiny_cyclegan, tmp_path):
    """A picture over the memory budget streams: its job counts rows as the
    passes go, and a cancel stops the streamed passes part-way."""
    photo = random_image(tmp_path / "big.png", size=(1200, 900)).read_bytes()
    server = Server(max_memory="16MB")
    with server as client:
        job = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "big.png"}, content=photo).json()
        running = server.app.state.jobs.jobs[job["id"]]
        folder, seen = running.folder, []
        with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if 0 < seen[-1]["done"] < seen[-1]["total"]:
                        break
        assert seen[-1]["unit"] == "rows" and seen[-1]["total"] == 900 and seen[-1]["state"] == "running"
        assert client.delete(f"/v1/jobs/{job['id']}").json()["state"] == "cancelling"
        deadline = time.monotonic() + 30
        while (server.app.state.jobs.active() or folder.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.state == "cancelled" and running.done < 900 and not folder.exists()
        assert client.get("/readyz").json()["waiting"] == 0
        # the same picture left alone: rows counted up to the whole, the pixels /v1/translate gives
        done = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "big.png"}, content=photo).json()
        trail = events(client, done["id"])
        assert trail[-1]["state"] == "done" and trail[-1]["done"] == 900
        assert len({e["done"] for e in trail if e["state"] == "running"}) > 2  # progress along the way
        direct = client.post("/v1/translate", params={"model": tiny_cyclegan}, content=photo)
        assert client.get(f"/v1/jobs/{done['id']}/result").content == direct.content


def test_cancel_stops_the_work_and_removes_its_files(tiny_cyclegan, tmp_path):
    source = clip(tmp_path / "long.mp4", 150, size=(96, 80))
    server = Server(max_jobs=1)
    with server as client:
        job = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "long.mp4"},
                          content=source.read_bytes()).json()
        running = server.app.state.jobs.jobs[job["id"]]
        folder = running.folder
        second = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "b.mp4"}, content=b"x")
        assert second.status_code == 429 and second.headers["retry-after"] == "5" and "too many jobs" in second.text
        with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["done"] > 0:
                    break
        cancelled = client.delete(f"/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelling"
        deadline = time.monotonic() + 20
        while (server.app.state.jobs.active() or folder.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.app.state.jobs.active() == 0 and not folder.exists()
        assert running.state == "cancelled" and running.done < 150  # stopped, not finished
        assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
        assert client.get("/readyz").json()["waiting"] == 0  # the device is free again


def test_job_limits_are_clear_errors(tiny_cyclegan, tmp_path):
    source = clip(tmp_path / "clip.mp4", 12)
    with Server(max_frames=5, max_job_upload=1 << 20) as client:
        job = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "clip.mp4"}, content=source.read_bytes())
        last = events(client, job.json()["id"])[-1]
        assert last["state"] == "failed" and last["error"] == "the video has 12 frames, over the limit of 5"
        assert client.get(f"/v1/jobs/{job.json()['id']}/result").status_code == 409
        big = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "a.mp4"}, content=b"\0" * (2 << 20))
        assert big.status_code == 413
        assert client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "a.mp4"}).status_code == 400
        assert client.post("/v1/jobs", params={"model": "cgan-digits"}, content=b"x").status_code == 400
        broken = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": "a.mp4"}, content=b"not a video")
        last = events(client, broken.json()["id"])[-1]
        assert last["state"] == "failed" and "not a readable video" in last["error"] and "\n" not in last["error"]


# ---- the hostile set ------------------------------------------------------------------------------------------
def raw(port: int, request: bytes, *, timeout: float = 30) -> bytes:
    """Send bytes as they are (no client-side tidying of paths or headers); the answer's bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.find(b"\r\n\r\n") + 4 + _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def get(port: int, target: str, host: str | None = None) -> bytes:
    head = f"GET {target} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\nConnection: close\r\n\r\n"
    return raw(port, head.encode())


def hostile_runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    fake_run(runs / "ok")
    outside = fake_run(tmp_path / "outside")
    (outside / "secret.txt").write_text("SECRET")
    (runs / "link").symlink_to(outside, target_is_directory=True)  # a run folder that leads out
    (runs / "ok" / "samples" / "step-00000009.png").symlink_to(outside / "samples" / "step-00000002.png")
    (runs / "ok" / "samples" / "step-00000010.png").symlink_to("/etc/passwd")
    return runs


TRAVERSALS = [
    "/v1/runs/..", "/v1/runs/.", "/v1/runs/%2e%2e", "/v1/runs/..%2f..%2fetc", "/v1/runs/%2fetc%2fpasswd",
    "/v1/runs/..%5c..%5cetc", "/v1/runs/link", "/v1/runs/ok%00", "/v1/runs/ok/samples/..%2fconfig.toml",
    "/v1/runs/ok/samples/%2fetc%2fpasswd", "/v1/runs/ok/samples/step-00000009.png",
    "/v1/runs/ok/samples/step-00000010.png", "/v1/runs/ok/samples/../../../../etc/passwd",
    "/v1/runs/link/samples/step-00000002.png", "/v1/runs/..%2foutside/samples/step-00000002.png",
    "/v1/runs/http:%2f%2fexample.com%2frun", "/ui/..%2fserver.py", "/ui/%2e%2e/server.py", "/ui/../server.py",
    "/../../etc/passwd", "//etc/passwd", "/v1/jobs/..%2f..%2fetc%2fpasswd", "/v1/jobs/%2fetc%2fpasswd/result",
    "/v1/jobs/....................../result", "/v1/runs/file:%2f%2f%2fetc%2fpasswd",
]


def test_traversal_absolute_paths_and_urls_in_every_path_parameter_are_404(tmp_path):
    runs = hostile_runs(tmp_path)
    with Server(runs=runs) as client:
        port = client.base_url.port
        for target in TRAVERSALS:
            answer = get(port, target)
            assert status_of(answer) == 404, (target, answer[:200])
            body = answer.split(b"\r\n\r\n", 1)[1]
            assert set(json.loads(body)) == {"error"} and b"root:" not in body and b"SECRET" not in body, target
        assert [r["name"] for r in client.get("/v1/runs").json()["runs"]] == ["ok"]  # the link out is not listed
        samples = client.get("/v1/runs/ok").json()["samples"]
        assert [s["step"] for s in samples] == [2]


def test_traversal_absolute_paths_and_urls_in_every_query_parameter(tiny_cyclegan, tmp_path):
    photo = random_image(tmp_path / "photo.png", size=(20, 16)).read_bytes()
    bad = ["../../etc/passwd", "/etc/passwd", "http://example.com/x.safetensors", "file:///etc/passwd",
           "..\\..\\windows\\win.ini", "%2e%2e%2fetc"]
    with Server() as client:
        for value in bad:
            for path, params, status in [
                ("/v1/translate", {"model": value}, 404),
                ("/v1/translate", {"model": tiny_cyclegan, "format": value}, 400),
                ("/v1/translate", {"model": tiny_cyclegan, "precision": value}, 400),
                ("/v1/translate", {"model": tiny_cyclegan, "seed": value}, 400),
                ("/v1/sample", {"model": value}, 404), ("/v1/sample", {"model": "cgan-digits", "labels": value}, 400),
                ("/v1/sample", {"model": "cgan-digits", "n": value}, 400), ("/v1/jobs", {"model": value}, 404),
            ]:
                response = client.post(path, params=params, content=photo)
                assert response.status_code == status, (path, params, response.text)
                assert set(response.json()) == {"error"} and "Traceback" not in response.text
        # A job's `name` gives only its extension: the upload is stored inside the job's own folder.
        for name in ("../../../../" + str(tmp_path / "escaped.mp4"), str(tmp_path / "escaped.png")):
            job = client.post("/v1/jobs", params={"model": tiny_cyclegan, "name": name},
                              content=b"http://example.com/a.jpg")
            assert job.status_code == 202
            last = events(client, job.json()["id"])[-1]
            assert last["state"] == "failed"
            assert "not a readable video" in last["error"] or "not an image" in last["error"]
        assert not any(tmp_path.glob("escaped*"))
        # A URL where a picture is expected is not fetched: it is just bytes that are not a picture.
        url = client.post("/v1/translate", params={"model": tiny_cyclegan}, content=b"https://example.com/cat.jpg")
        assert url.status_code == 422 and "not an image" in url.json()["error"]


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a huge size in a few bytes (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def test_bombs_and_truncated_pictures_are_422(tiny_cyclegan, tmp_path):
    bomb = io.BytesIO()
    Image.new("L", (3000, 3000)).save(bomb, "PNG")  # 9 million pixels in a few kilobytes
    assert len(bomb.getvalue()) < 100_000
    whole = random_image(tmp_path / "p.png", size=(64, 64)).read_bytes()
    with Server(max_pixels=4_000_000) as client:
        for body, message in [(png_header(100_000, 100_000), "image too large"), (bomb.getvalue(), "image too large"),
                              (whole[: len(whole) // 2], "")]:
            answer = client.post("/v1/translate", params={"model": tiny_cyclegan}, content=body)
            assert answer.status_code == 422 and message in answer.json()["error"], answer.text


@pytest.mark.parametrize("kind", ["application/octet-stream", "multipart/form-data; boundary=b"])
def test_a_huge_body_is_refused_early_and_never_held_in_memory(tiny_cyclegan, kind):
    with Server(max_upload=1 << 20) as client:
        port = client.base_url.port
        head = (f"POST /v1/translate?model={tiny_cyclegan} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: {kind}\r\n")
        declared = raw(port, (head + "Content-Length: 1073741824\r\n\r\n").encode(), timeout=10)
        assert status_of(declared) == 413  # refused from the header, before a byte of the body
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sent, answer = 0, b""
        chunk = b"%x\r\n" % (1 << 16) + b"\0" * (1 << 16) + b"\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
            try:
                while sent < 1 << 30 and not select.select([sock], [], [], 0)[0]:
                    sock.sendall(chunk)
                    sent += 1 << 16
                answer = sock.recv(65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        assert sent < 64 << 20, sent  # 1 GB offered; the server stopped reading after its limit
        assert answer == b"" or status_of(answer) == 413
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 << 10  # KB: nothing near 1 GB
        assert client.get("/healthz").status_code == 200


@pytest.mark.slow
def test_slow_and_truncated_uploads_are_bounded(tiny_cyclegan):
    with Server(body_idle_s=1, body_total_s=3) as client:
        port = client.base_url.port
        head = (f"POST /v1/translate?model={tiny_cyclegan} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Length: 1000\r\n\r\n")
        start = time.monotonic()
        stalled = raw(port, head.encode() + b"\x89PNG", timeout=20)  # then nothing
        assert status_of(stalled) == 408 and b"too slow" in stalled and time.monotonic() - start < 10
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:  # a trickle: a byte a half second
            sock.sendall(head.encode())
            start, answer = time.monotonic(), b""
            while not answer and time.monotonic() - start < 15:
                sock.sendall(b"x")
                if select.select([sock], [], [], 0.5)[0]:
                    answer = sock.recv(65536)
        assert status_of(answer) == 408 and time.monotonic() - start < 10
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:  # cut off mid-body
            sock.sendall(head.encode() + b"x" * 100)
        assert client.post("/v1/translate", params={"model": tiny_cyclegan},
                           content=random_image(Path("p.png"), size=(8, 8)).read_bytes()).status_code == 200


@pytest.mark.slow
def test_fifty_concurrent_requests_are_all_answered_or_refused_with_503(tiny_cyclegan, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    photo = random_image(tmp_path / "p.png", size=(64, 64)).read_bytes()
    with Server() as client:
        def call(i):
            with httpx.Client(base_url=str(client.base_url), timeout=120) as own:
                if i % 5 == 0:
                    return own.get("/v1/models").status_code
                return own.post("/v1/translate", params={"model": tiny_cyclegan}, content=photo).status_code

        assert call(1) == 200  # the model loaded before memory is watched
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(call, range(50)))
        assert len(statuses) == 50 and set(statuses) <= {200, 503} and statuses.count(200) >= 10, statuses
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 << 10  # KB: the queue bounds it
        assert client.get("/readyz").json()["waiting"] == 0


def test_allow_remote_needs_the_printed_token_and_the_right_host(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "imgtrans", "serve", "--host", "127.0.0.2", "--port", str(port),
                               "--allow-remote", "--models", "vintage"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        token = None
        for line in server.stderr:
            if "token" in line:
                token = line.rsplit(" ", 1)[1].strip()
            if "serving" in line:
                break
        assert token and len(token) >= 24
        base = f"http://127.0.0.2:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        page = httpx.get(base + "/")  # the printed address shows the page (it holds no data: no token needed)
        assert page.status_code == 200 and "<title>imgtrans</title>" in page.text
        assert httpx.get(base + "/v1/models").status_code == 401
        assert httpx.get(base + "/v1/models", headers={"authorization": "Bearer " + token[:-1]}).status_code == 401
        ok = httpx.get(base + "/v1/models", headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and [m["name"] for m in ok.json()["models"]] == ["vintage"]
        wrong_host = httpx.get(base + "/v1/models", headers={"authorization": f"Bearer {token}",
                                                             "host": "evil.example"})
        assert wrong_host.status_code == 421
    finally:
        server.terminate()
        server.wait(10)


def test_max_memory_per_request_streams_and_cannot_exceed_the_servers(tiny_cyclegan, tmp_path):
    photo = random_image(tmp_path / "big.png", size=(480, 360)).read_bytes()  # about 17 MB whole
    with Server(max_memory="1GB") as client:
        whole = client.post("/v1/translate", params={"model": tiny_cyclegan, "precision": "fp32"}, content=photo)
        streamed = client.post("/v1/translate", params={"model": tiny_cyclegan, "precision": "fp32",
                                                        "max_memory": "16MB"}, content=photo)
        assert whole.headers["x-imgtrans-streamed"] == "false" and streamed.headers["x-imgtrans-streamed"] == "true"
        difference = (np.asarray(Image.open(io.BytesIO(whole.content)), int)
                      - np.asarray(Image.open(io.BytesIO(streamed.content)), int))
        assert np.abs(difference).max() <= 1  # the streamed path's rounding, as tests/test_streaming.py allows
        over = client.post("/v1/translate", params={"model": tiny_cyclegan, "max_memory": "2GB"}, content=photo)
        assert over.status_code == 400 and "over the server's --max-memory 1GB" in over.json()["error"]
        bad = client.post("/v1/translate", params={"model": tiny_cyclegan, "max_memory": "lots"}, content=photo)
        assert bad.status_code == 400 and "bad memory size" in bad.json()["error"]


def test_warm_models_are_bounded_by_their_weights_bytes(tiny_cyclegan, tiny_pix2pix, tmp_path):
    photo = random_image(tmp_path / "p.png", size=(32, 32)).read_bytes()
    with Server(warm_bytes=1) as client:  # room for none: only the one just used stays
        for name in (tiny_cyclegan, tiny_pix2pix):
            assert client.post("/v1/translate", params={"model": name}, content=photo).status_code == 200
            assert client.get("/readyz").json()["warm"] == [name]
    with Server() as client:
        for name in (tiny_cyclegan, tiny_pix2pix):
            client.post("/v1/translate", params={"model": name}, content=photo)
        assert client.get("/readyz").json()["warm"] == [tiny_cyclegan, tiny_pix2pix]
