"""`imgtrans serve`'s HTTP API: a thin Starlette layer over the library.

Everything goes through `imgtrans.load` and the loaded model's
`translate_arrays` (no second inference path). Safe by default: bound to the
loopback address, the Host header checked against the addresses it serves
(DNS rebinding), a bearer token when it is reachable from elsewhere, no CORS
unless asked, no URL fetching and no server-side paths taken from a request,
uploads, pixels, frames, jobs and request bodies bounded, one computation
per device at a time with a bounded queue (503 with Retry-After beyond it),
training runs served read-only from the one folder named at start, job files
only in per-job temporary folders, and every error a 4xx/5xx JSON body with
the CLI's one-line message, never a traceback. The page at `/` is static
files from imgtrans/web (no CDN).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from imgtrans.errors import ImgtransError

log = logging.getLogger("imgtrans.serve")

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
VIDEO_MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
                     ".webm": "video/webm", ".avi": "video/x-msvideo", ".gif": "image/gif"}
MAX_SAMPLES_PER_LABEL = 64
FORM_OVERHEAD = 1 << 16  # a multipart body's boundaries, headers and small fields, beyond the file itself
MAX_LOSS_POINTS = 2000  # a long run's curve is thinned to this many steps (the last one always kept)
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SAMPLE_NAME = re.compile(r"step-([0-9]{1,12})\.png")
JOB_ID = re.compile(r"[A-Za-z0-9_-]{16}")
TERMINAL = ("done", "failed", "cancelled")
WEB = Path(__file__).with_name("web")
UI_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
# The page loads nothing from elsewhere and cannot be framed by another site.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                                           "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}
_ERROR = {"description": "a one-line error", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}}}}}


def _param(name: str, description: str, kind: str = "string", required: bool = False, where: str = "query") -> dict:
    return {"name": name, "in": where, "required": required, "description": description, "schema": {"type": kind}}


_JOB = _param("id", "a job id (POST /v1/jobs)", required=True, where="path")
_RUN = _param("name", "a run folder's name under --runs", required=True, where="path")

# The API, described once: served at /openapi.json and drawn at /docs (a page of our own: no CDN).
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "imgtrans", "version": "1", "description": "Image-to-image translation with GANs over HTTP."},
    "paths": {
        "/healthz": {"get": {"summary": "Liveness (no token needed)", "responses": {"200": {"description": "ok"}}}},
        "/readyz": {"get": {"summary": "Readiness: the warm models, the queue and the jobs",
                            "responses": {"200": {"description": "ready"}}}},
        "/v1/models": {"get": {"summary": "The models served: name, family, kind, direction, weights, licence",
                               "responses": {"200": {"description": "a list of models"}}}},
        "/v1/translate": {"post": {
            "summary": "Translate one picture at full resolution (multipart field `image`, or the raw body)",
            "parameters": [_param("model", "a model name (GET /v1/models)", required=True),
                           _param("precision", "fp32, tf32, bf16, fp16 or auto"),
                           _param("seed", "dropout noise seed", "integer"), _param("format", "png, jpg, webp or gif"),
                           _param("max_memory", "memory for the picture, e.g. 300MB (at most --max-memory); "
                                                "less makes a large picture run streamed")],
            "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
                "image": {"type": "string", "format": "binary"}}}}, "application/octet-stream": {}}},
            "responses": {"200": {"description": "the picture, with X-Imgtrans-Model, -Device, -Precision, "
                                                 "-Streamed, -Ms and -Peak-Memory headers"},
                          "400": _ERROR, "401": _ERROR, "404": _ERROR, "408": _ERROR, "413": _ERROR, "421": _ERROR,
                          "422": _ERROR, "503": _ERROR}}},
        "/v1/sample": {"post": {
            "summary": "A grid of samples from a conditional model: one row per label",
            "parameters": [_param("model", "a conditional model", required=True),
                           _param("labels", "comma-separated names or indices (default: all)"),
                           _param("n", f"samples per label, 1 to {MAX_SAMPLES_PER_LABEL}", "integer"),
                           _param("seed", "the same seed gives the same pixels", "integer")],
            "responses": {"200": {"description": "a PNG grid"}, "400": _ERROR, "404": _ERROR, "503": _ERROR}}},
        "/v1/jobs": {"post": {
            "summary": "Start a job for a video or a large picture (the raw body); returns its id",
            "parameters": [_param("model", "a model that translates", required=True),
                           _param("name", "the file's name, for its extension only: a video extension "
                                          "(mp4, mov, mkv, webm, avi, m4v, gif) makes a video job, anything else "
                                          "a picture job"),
                           _param("precision", "fp32, tf32, bf16, fp16 or auto"),
                           _param("seed", "dropout noise seed", "integer"),
                           _param("max_memory", "memory for one picture or frame (at most --max-memory)")],
            "requestBody": {"content": {"application/octet-stream": {}}},
            "responses": {"202": {"description": "the job (as GET /v1/jobs/{id})"}, "400": _ERROR, "404": _ERROR,
                          "408": _ERROR, "413": _ERROR, "429": _ERROR}}},
        "/v1/jobs/{id}": {
            "get": {"summary": "A job: state (queued, running, done, failed, cancelled), progress, ETA, error",
                    "parameters": [_JOB], "responses": {"200": {"description": "the job"}, "404": _ERROR}},
            "delete": {"summary": "Cancel a job (the work stops) and delete its files",
                       "parameters": [_JOB], "responses": {"200": {"description": "the job"}, "404": _ERROR}}},
        "/v1/jobs/{id}/events": {"get": {
            "summary": "The job as server-sent events: one `data:` JSON line per change, until it ends",
            "parameters": [_JOB], "responses": {"200": {"description": "text/event-stream"}, "404": _ERROR}}},
        "/v1/jobs/{id}/result": {"get": {
            "summary": "The finished job's file", "parameters": [_JOB],
            "responses": {"200": {"description": "the video or picture"}, "404": _ERROR, "409": _ERROR}}},
        "/v1/runs": {"get": {"summary": "The training runs under --runs: name, plugin, step, finished",
                             "responses": {"200": {"description": "a list of runs"}, "404": _ERROR}}},
        "/v1/runs/{name}": {"get": {
            "summary": "One run: config, losses (one record per step, thinned to "
                       f"{MAX_LOSS_POINTS}), sample grids by step, summary (null while it trains)",
            "parameters": [_RUN], "responses": {"200": {"description": "the run"}, "404": _ERROR}}},
        "/v1/runs/{name}/samples/{file}": {"get": {
            "summary": "A sample grid, `step-N.png` as listed by GET /v1/runs/{name}",
            "parameters": [_RUN, _param("file", "step-N.png", required=True, where="path")],
            "responses": {"200": {"description": "a PNG"}, "404": _ERROR}}},
    },
}


def docs_page() -> str:
    """The API reference as plain HTML, from OPENAPI (works offline)."""
    from html import escape

    parts = ["<!doctype html><meta charset='utf-8'><title>imgtrans API</title>",
             "<style>body{font:15px system-ui;max-width:50em;margin:2em auto;padding:0 1em}"
             "code{background:#eee}</style>",
             "<h1>imgtrans API</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>.</p>"]
    for path, methods in OPENAPI["paths"].items():
        for method, spec in methods.items():
            parts.append(f"<h2><code>{method.upper()} {escape(path)}</code></h2><p>{escape(spec['summary'])}</p>")
            rows = "".join(f"<li><code>{escape(p['name'])}</code>{' (required)' if p['required'] else ''}: "
                           f"{escape(p['description'])}</li>" for p in spec.get("parameters", []))
            if rows:
                parts.append(f"<ul>{rows}</ul>")
            codes = ", ".join(spec["responses"])
            parts.append(f"<p>Responses: {codes}</p>")
    return "".join(parts)


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    models: tuple[str, ...] | None = None  # the only models served; None: every registered model
    device: str | None = None
    max_memory: str | None = None
    token: str | None = None
    cors: str | None = None
    max_upload: int = 50 << 20
    max_pixels: int | None = None
    warm_models: int = 4  # loaded models kept (least recently used dropped)
    warm_bytes: int = 4 << 30  # ... and their weights' bytes in all (the one in use always stays)
    queue: int = 8  # requests waiting for the device beyond the one computing
    extra_hosts: tuple[str, ...] = field(default_factory=tuple)
    runs: Path | None = None  # the training runs served (read-only); None: none
    ui: bool = True  # the page at /
    max_job_upload: int = 1 << 30
    max_jobs: int = 4  # jobs queued or running at once; more get 429
    keep_jobs: int = 16  # finished jobs kept (with their result) before the oldest goes
    max_frames: int = 100_000  # frames of one video job
    body_idle_s: float = 30.0  # a request body that sends nothing for this long gets 408
    body_total_s: float = 600.0  # ... or that takes longer than this in all


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Models:
    """Loaded models kept warm (an LRU bounded in count and in weight bytes),
    one computation at a time, a bounded queue."""

    def __init__(self, config: ServeConfig, registry):
        self.config, self.registry = config, registry
        self.loaded: OrderedDict[tuple, object] = OrderedDict()
        self.sizes: dict[tuple, int] = {}
        self.lock = asyncio.Lock()
        self.waiting = 0

    def check(self, name: str, kind: str | None = None) -> None:
        allowed = self.config.models
        if (allowed is not None and name not in allowed) or name not in self.registry.models:
            raise HTTPError(404, f"unknown model {name!r}; GET /v1/models lists them")
        family = self.registry.families.get(self.registry.models[name].family)
        found = family.kind if family else None
        if kind == "translate" and found != "translate":
            raise HTTPError(400, f"{name!r} generates images from labels; it does not translate")
        if kind == "conditional" and found != "conditional":
            raise HTTPError(400, f"{name!r} translates pictures; POST /v1/translate")

    def _load(self, key: tuple):
        import imgtrans

        name, precision, seed, max_memory = key
        model = imgtrans.load(name, device=self.config.device, precision=precision, seed=seed,
                              max_memory=max_memory or self.config.max_memory, registry=self.registry)
        self.loaded[key] = model
        net = model.generator
        self.sizes[key] = sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))
        while len(self.loaded) > 1 and (len(self.loaded) > self.config.warm_models
                                        or sum(self.sizes.values()) > self.config.warm_bytes):
            dropped, _ = self.loaded.popitem(last=False)
            del self.sizes[dropped]
        return model

    async def run(self, key: tuple, work, *, bounded: bool = True):
        """`work(model)` on a worker thread, one at a time; 503 when the queue is
        full (`bounded`; jobs are bounded by their own count instead)."""
        if bounded and self.waiting > self.config.queue:
            raise HTTPError(503, "busy: too many requests waiting; retry shortly", {"Retry-After": "1"})
        self.waiting += 1
        try:
            async with self.lock:
                model = self.loaded.get(key)
                if model is None:
                    model = await run_in_threadpool(self._load, key)
                else:
                    self.loaded.move_to_end(key)
                return await run_in_threadpool(work, model)
        finally:
            self.waiting -= 1


class Runs:
    """The training runs under one folder, read-only. A name is one path
    component of safe characters, and every file is resolved and must lie
    inside the folder (a symbolic link out of it is refused as not found)."""

    def __init__(self, root: Path | None):
        self.root = root.resolve() if root is not None else None

    def _inside(self, path: Path) -> Path | None:
        resolved = path.resolve()
        return resolved if self.root is not None and resolved.is_relative_to(self.root) else None

    def folder(self, name: str) -> Path:
        if self.root is None:
            raise HTTPError(404, "no training runs here: start the server with --runs DIR")
        path = self._inside(self.root / name) if RUN_NAME.fullmatch(name) and name.strip(".") else None
        if path is None or not path.is_dir() or self._file(path, "config.toml") is None:
            raise HTTPError(404, f"no run {name!r} under the runs folder")
        return path

    def _file(self, folder: Path, name: str) -> Path | None:
        path = self._inside(folder / name)
        return path if path is not None and path.is_file() else None

    def _read_json(self, folder: Path, name: str):
        path = self._file(folder, name)
        try:
            return _finite_json(path.read_text(encoding="utf-8")) if path else None
        except (OSError, ValueError, RecursionError):
            return None  # being written, or damaged: shown as absent

    def index(self) -> list[dict]:
        if self.root is None:
            raise HTTPError(404, "no training runs here: start the server with --runs DIR")
        rows = []
        for entry in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            try:
                folder = self.folder(entry.name)
            except HTTPError:
                continue
            config = self._config(folder) or {}
            rows.append({"name": entry.name, "family": config.get("family", config.get("plugin")),
                         "step": self._last_step(folder), "finished": self._file(folder, "summary.json") is not None})
        return rows

    def detail(self, name: str) -> dict:
        folder = self.folder(name)
        samples: list[dict[str, Any]] = []
        sample_dir = self._inside(folder / "samples")
        if sample_dir is not None and sample_dir.is_dir():
            for entry in sample_dir.iterdir():
                match = SAMPLE_NAME.fullmatch(entry.name)
                if match and self._file(sample_dir, entry.name):
                    samples.append({"step": int(match.group(1)), "url": f"/v1/runs/{name}/samples/{entry.name}"})
        samples.sort(key=lambda s: s["step"])
        losses = self._losses(folder)
        keys = sorted({k for record in losses for k, v in record.items()
                       if k not in ("step", "epoch", "time", "lr") and isinstance(v, (int, float))})
        return {"name": name, "config": self._config(folder), "losses": _thin(losses, MAX_LOSS_POINTS),
                "loss_keys": keys, "steps": len(losses), "samples": samples,
                "summary": self._read_json(folder, "summary.json"), "finished": self._file(folder, "summary.json")
                is not None}

    def sample(self, name: str, file: str) -> Path:
        folder = self.folder(name)
        path = self._file(folder / "samples", file) if SAMPLE_NAME.fullmatch(file) else None
        if path is None:
            raise HTTPError(404, f"no sample {file!r} in run {name!r}")
        return path

    def _config(self, folder: Path) -> dict | None:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        path = self._file(folder, "config.toml")
        try:
            return tomllib.loads(path.read_text(encoding="utf-8")) if path else None
        except (OSError, ValueError, RecursionError):
            return None

    def _last_step(self, folder: Path) -> int | None:
        """The last logged step, from the log's tail only (the list is polled; a long run's log is large)."""
        path = self._file(folder, "losses.jsonl")
        if path is None:
            return None
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 4096))
            for line in reversed(fh.read().splitlines()):
                try:
                    record = _finite_json(line.decode("utf-8", "replace"))
                except (ValueError, RecursionError):
                    continue
                if isinstance(record, dict) and isinstance(record.get("step"), int):
                    return record["step"]
        return None

    def _losses(self, folder: Path) -> list[dict]:
        path = self._file(folder, "losses.jsonl")
        if path is None:
            return []
        records = []
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = _finite_json(line)
                except (ValueError, RecursionError):
                    continue  # the line being written by a run in progress
                if isinstance(record, dict) and isinstance(record.get("step"), int):
                    records.append(record)
        return records


def _finite_json(text: str):
    """JSON with NaN and infinities (a diverged run logs them) read as null: the answer must be valid JSON."""
    return json.loads(text, parse_constant=lambda constant: None)


def _thin(records: list, limit: int) -> list:
    """At most `limit` evenly spaced records, the last always kept."""
    if len(records) <= limit:
        return records
    stride = -(-len(records) // limit)
    kept = records[::stride]
    return kept if kept[-1] is records[-1] else [*kept, records[-1]]


class JobCancelled(Exception):
    """Raised from a job's progress callback: the library call unwinds and removes its partial output."""


@dataclass
class Job:
    id: str
    kind: str  # "video" or "picture"
    model: str
    folder: Path
    source: Path
    output: Path
    state: str = "queued"
    done: int = 0
    total: int | None = None
    error: str | None = None
    started: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    version: int = 0  # bumped on every change (server-sent events)

    def public(self) -> dict:
        eta = None
        if self.state == "running" and self.total and self.done and self.started:
            eta = round((time.time() - self.started) / self.done * (self.total - self.done), 1)
        return {"id": self.id, "kind": self.kind, "model": self.model, "state": self.state, "done": self.done,
                "total": self.total, "unit": "frames" if self.kind == "video" else "rows", "eta_s": eta,
                "error": self.error, "result": f"/v1/jobs/{self.id}/result" if self.state == "done" else None}

    def update(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        self.version += 1


class Jobs:
    """Jobs for videos and large pictures, each in its own temporary folder
    (removed on cancel, on eviction and at shutdown), bounded in number."""

    def __init__(self, config: ServeConfig, models: Models):
        self.config, self.models = config, models
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.running: set[asyncio.Task] = set()  # also those cancelled but not yet unwound
        self.root: Path | None = None

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise HTTPError(404, f"no job {job_id!r}")
        return job

    def active(self) -> int:
        return len(self.running)

    async def create(self, request: Request, name: str, kind: str, key: tuple, suffix: str) -> Job:
        if self.active() >= self.config.max_jobs:
            raise HTTPError(429, f"too many jobs: {self.config.max_jobs} are queued or running; retry later",
                            {"Retry-After": "5"})
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="imgtrans-serve-"))
        folder = Path(tempfile.mkdtemp(prefix="job-", dir=self.root))
        job = Job(secrets.token_urlsafe(12), kind, name, folder, folder / f"input{suffix}",
                  folder / (f"output{suffix}" if kind == "video" else "output.png"))
        try:
            with open(job.source, "wb") as fh:
                async for chunk in bounded_stream(request, self.config.max_job_upload):
                    fh.write(chunk)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if job.source.stat().st_size == 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPError(400, "empty upload: send the file as the request body")
        self.jobs[job.id] = job
        self._evict()
        task = asyncio.get_running_loop().create_task(self._run(job, key))
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return job

    def cancel(self, job: Job) -> None:
        """Stop the work at its next progress report (a queued job at its start) and delete its files."""
        job.cancel.set()
        if job.state != "running":  # not being written to: its files can go now
            shutil.rmtree(job.folder, ignore_errors=True)
        self.jobs.pop(job.id, None)

    def close(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel.set()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def _evict(self) -> None:
        finished = [job for job in self.jobs.values() if job.state in TERMINAL]
        for job in finished[: max(0, len(finished) - self.config.keep_jobs)]:
            shutil.rmtree(job.folder, ignore_errors=True)
            self.jobs.pop(job.id, None)

    async def _run(self, job: Job, key: tuple) -> None:
        try:
            await self.models.run(key, lambda model: self._work(job, model), bounded=False)
            job.update(state="done")
        except JobCancelled:
            job.update(state="cancelled")
        except HTTPError as exc:
            job.update(state="failed", error=exc.message)
        except ImgtransError as exc:
            job.update(state="failed", error=str(exc))
        except Exception:
            log.exception("job %s failed", job.id)
            job.update(state="failed", error="internal error; the server's log has the details")
        finally:
            if job.state != "done" or job.id not in self.jobs:  # nothing half-made is kept, nor a deleted job's
                shutil.rmtree(job.folder, ignore_errors=True)
            self._evict()

    def _work(self, job: Job, model) -> None:
        """Through the library's own calls; the progress callback is where a cancel stops the work."""
        if job.cancel.is_set():
            raise JobCancelled
        job.update(state="running", started=time.time())
        if job.kind == "picture":
            from imgtrans.io import imageio

            data = job.source.read_bytes()
            picture = imageio.decode(data, channels=model.channels, max_pixels=self.config.max_pixels)
            rows = picture.pixels.shape[0]
            job.update(total=rows)

            def on_progress(fraction: float) -> None:  # after each strip of a streamed picture
                if job.cancel.is_set():
                    raise JobCancelled
                if int(fraction * rows) != job.done:
                    job.update(done=int(fraction * rows))

            [pixels] = model.translate_arrays([picture.pixels], progress=on_progress)
            if job.cancel.is_set():
                raise JobCancelled
            job.output.write_bytes(imageio.encode(pixels, picture.alpha, "png"))
            job.update(done=rows)
            return
        from imgtrans.io.video import translate_video

        limit = self.config.max_frames

        def on_start(total: int | None) -> None:
            if total and total > limit:
                raise HTTPError(413, f"the video has {total} frames, over the limit of {limit}")
            job.update(total=total)

        def on_frames(n: int) -> None:
            job.update(done=job.done + n)
            if job.cancel.is_set():
                raise JobCancelled
            if job.done > limit:
                raise HTTPError(413, f"the video has more than {limit} frames, the limit")

        translate_video(model, job.source, job.output, max_pixels=self.config.max_pixels, on_start=on_start,
                        on_frames=on_frames)


class BodyTimeout:
    """ASGI middleware: a request body that stalls (`idle` seconds without a
    chunk) or drags on (`total` seconds) is answered 408 at once, and the
    application sees the client gone, so a slow client cannot hold a
    connection and its buffer forever."""

    def __init__(self, app, idle: float, total: float):
        self.app, self.idle, self.total = app, idle, total

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline = time.monotonic() + self.total
        complete, answered, started = False, False, False

        async def timed_receive():
            nonlocal complete, answered
            if complete or answered:
                return await receive() if not answered else {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), max(min(self.idle, deadline - time.monotonic()), 0.001))
            except asyncio.TimeoutError:
                if not started:
                    answered = True
                    reply = _json(408, f"request body too slow (nothing for {self.idle:g} s, or over {self.total:g} "
                                       "s in all)", {"Connection": "close"})
                    await reply(scope, receive, send)
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def checked_send(message):
            nonlocal started
            if answered:
                return  # the 408 went out; whatever the application says after it is dropped
            started = True
            await send(message)

        await self.app(scope, timed_receive, checked_send)


def create_app(config: ServeConfig, registry=None) -> Starlette:
    from imgtrans.hub import default_registry

    registry = registry or default_registry()
    models = Models(config, registry)
    runs = Runs(config.runs)
    jobs = Jobs(config, models)
    allowed_hosts = {f"{h}:{config.port}" for h in (*LOOPBACK, config.host, *config.extra_hosts)}
    allowed_hosts |= {h for h in (*LOOPBACK, config.host, *config.extra_hosts)}

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        limits = {"max_upload": config.max_upload, "max_job_upload": config.max_job_upload,
                  "max_pixels": config.max_pixels, "max_frames": config.max_frames, "max_jobs": config.max_jobs}
        return JSONResponse({"ready": True, "warm": [key[0] for key in models.loaded], "waiting": models.waiting,
                             "jobs": jobs.active(), "limits": limits})

    async def list_models(request: Request) -> Response:
        rows = []
        for spec in sorted(registry.models.values(), key=lambda s: s.name):
            if config.models is not None and spec.name not in config.models:
                continue
            family = registry.families.get(spec.family)
            crop = spec.preprocess.crop_size
            rows.append({"name": spec.name, "family": spec.family, "kind": family.kind if family else None,
                         "direction": spec.direction, "weights": registry.locate(spec).status,
                         "license": spec.license, "trained_size": f"{crop}x{crop}" if crop else None,
                         "preprocess": spec.preprocess.describe(), "labels": list(spec.labels)})
        return JSONResponse({"models": rows})

    async def translate(request: Request) -> Response:
        options = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await bounded_form(request, config.max_upload, max_files=1)
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise HTTPError(400, "multipart upload without an 'image' file field")
            data = await upload.read()
            options.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            data = b"".join([chunk async for chunk in bounded_stream(request, config.max_upload)])
        if len(data) > config.max_upload:
            raise HTTPError(413, f"upload over the limit of {config.max_upload} bytes")
        name = options.get("model", "")
        models.check(name, "translate")
        fmt = options.get("format", "png").lower()
        if fmt not in MEDIA_TYPES:
            raise HTTPError(400, f"unknown format {fmt!r} (png, jpg, webp or gif)")
        seed = _integer(options.get("seed"), "seed")
        precision = options.get("precision") or None
        max_memory = _max_memory(options.get("max_memory"), config)

        def work(model):
            from imgtrans.io import imageio

            picture = imageio.decode(data, channels=model.channels, max_pixels=config.max_pixels)
            start = time.perf_counter()
            [pixels] = model.translate_arrays([picture.pixels])
            ms = (time.perf_counter() - start) * 1e3
            return imageio.encode(pixels, picture.alpha, fmt), model.last_run, ms

        body, ran, ms = await models.run((name, precision, seed, max_memory), work)
        headers = {"X-Imgtrans-Model": name, "X-Imgtrans-Device": ran.device, "X-Imgtrans-Precision": ran.precision,
                   "X-Imgtrans-Streamed": str(ran.streamed).lower(), "X-Imgtrans-Ms": f"{ms:.1f}",
                   "X-Imgtrans-Peak-Memory": str(ran.peak_memory)}
        return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)

    async def sample(request: Request) -> Response:
        options = dict(request.query_params)
        if request.headers.get("content-type", "").startswith(("multipart/form-data", "application/x-www-form")):
            form = await bounded_form(request, 1 << 16, max_files=0)
            options.update({k: v for k, v in form.items() if isinstance(v, str)})
        name = options.get("model", "")
        models.check(name, "conditional")
        labels = [x.strip() for x in options.get("labels", "").split(",") if x.strip()] or None
        n = _integer(options.get("n"), "n") or 8
        if not 1 <= n <= MAX_SAMPLES_PER_LABEL:
            raise HTTPError(400, f"n must be between 1 and {MAX_SAMPLES_PER_LABEL}, not {n}")
        seed = _integer(options.get("seed"), "seed")

        def work(model):
            from imgtrans.inference.sampling import grid
            from imgtrans.io import imageio

            return imageio.encode(grid(model.sample_array(labels, n=n, seed=seed)), None, "png")

        body = await models.run((name, None, None, None), work)
        return Response(body, media_type="image/png", headers={"X-Imgtrans-Model": name})

    async def create_job(request: Request) -> Response:
        from imgtrans.io.inputs import VIDEO_EXTENSIONS

        options = request.query_params
        name = options.get("model", "")
        models.check(name, "translate")
        seed = _integer(options.get("seed"), "seed")
        suffix = Path(options.get("name", "")).suffix.lower()
        kind = "video" if suffix in VIDEO_EXTENSIONS else "picture"
        key = (name, options.get("precision") or None, seed, _max_memory(options.get("max_memory"), config))
        job = await jobs.create(request, name, kind, key, suffix if kind == "video" else "")
        return JSONResponse(job.public(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    async def get_job(request: Request) -> Response:
        return JSONResponse(jobs.get(request.path_params["id"]).public())

    async def delete_job(request: Request) -> Response:
        job = jobs.get(request.path_params["id"])
        jobs.cancel(job)
        return JSONResponse({**job.public(), "state": job.state if job.state in TERMINAL else "cancelling"})

    async def job_events(request: Request) -> Response:
        job = jobs.get(request.path_params["id"])

        async def stream():
            seen = -1
            while True:
                if job.version != seen:
                    seen, snapshot = job.version, job.public()
                    yield f"data: {json.dumps(snapshot)}\n\n"
                    if snapshot["state"] in TERMINAL:  # the last event is always the final state
                        return
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def job_result(request: Request) -> Response:
        job = jobs.get(request.path_params["id"])
        if job.state != "done":
            raise HTTPError(409, f"job {job.id} is {job.state}, not done")
        suffix = job.output.suffix
        media = "image/png" if job.kind == "picture" else VIDEO_MEDIA_TYPES.get(suffix, "application/octet-stream")
        return FileResponse(job.output, media_type=media, filename=f"{job.model}{suffix}")

    async def list_runs(request: Request) -> Response:
        return JSONResponse({"runs": await run_in_threadpool(runs.index)})

    async def get_run(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(runs.detail, request.path_params["name"]),
                            headers={"Cache-Control": "no-store"})

    async def run_sample(request: Request) -> Response:
        path = await run_in_threadpool(runs.sample, request.path_params["name"], request.path_params["file"])
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    async def page(request: Request) -> Response:
        if not config.ui:
            raise HTTPError(404, "the page is off (--no-ui); the API is at /v1 and described at /docs")
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if not config.ui or name not in UI_FILES:
            raise HTTPError(404, f"no such file {name!r}")
        return FileResponse(WEB / name, media_type=UI_FILES[name], headers=PAGE_HEADERS)

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page())

    async def guard(request: Request, call_next):
        host = request.headers.get("host", "")
        if host not in allowed_hosts:  # DNS rebinding: a page elsewhere naming our address under its own host
            return _json(421, f"host {host!r} is not served here")
        path = request.url.path
        # The page's static files carry no data: they load without the token, then ask for it.
        if config.token is not None and path != "/healthz" and path != "/" and not path.startswith("/ui/"):
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), config.token.encode()):
                return _json(401, "missing or wrong token (Authorization: Bearer TOKEN)")
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if config.cors is not None:
            response.headers["Access-Control-Allow-Origin"] = config.cors
        return response

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            jobs.close()

    routes = [Route("/", page), Route("/ui/{name}", asset), Route("/healthz", healthz), Route("/readyz", readyz),
              Route("/v1/models", list_models), Route("/v1/translate", translate, methods=["POST"]),
              Route("/v1/sample", sample, methods=["POST"]), Route("/v1/jobs", create_job, methods=["POST"]),
              Route("/v1/jobs/{id}", get_job), Route("/v1/jobs/{id}", delete_job, methods=["DELETE"]),
              Route("/v1/jobs/{id}/events", job_events), Route("/v1/jobs/{id}/result", job_result),
              Route("/v1/runs", list_runs), Route("/v1/runs/{name}", get_run),
              Route("/v1/runs/{name}/samples/{file}", run_sample),
              Route("/openapi.json", openapi), Route("/docs", docs)]
    handlers: dict[Any, Any] = {HTTPError: _http_error, ImgtransError: _library_error, 404: _not_found,
                                405: _not_allowed, ClientDisconnect: _gone, Exception: _internal}
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(BodyTimeout, idle=config.body_idle_s, total=config.body_total_s),
                                Middleware(BaseHTTPMiddleware, dispatch=guard)],
                    exception_handlers=handlers)
    app.state.jobs = jobs
    return app


async def bounded_stream(request: Request, limit: int):
    """The raw body in chunks, refused (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"upload over the limit of {limit} bytes")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"upload over the limit of {limit} bytes")
        yield chunk


async def bounded_form(request: Request, limit: int, *, max_files: int):
    """The form parsed from a body read through `bounded_stream` (413 past the
    limit plus the form's own overhead), so a large multipart upload is refused
    while it arrives, not after Starlette has spooled it to disk."""
    body = b"".join([chunk async for chunk in bounded_stream(request, limit + FORM_OVERHEAD)])
    delivered = False

    async def replay() -> dict:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request(request.scope, replay).form(max_files=max_files, max_fields=16, max_part_size=limit)


def _integer(value: str | None, what: str) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or int(value) >= 2**63:
        raise HTTPError(400, f"{what} must be an integer from 0 to 2**63 - 1, not {value!r}")
    return int(value)


def _max_memory(value: str | None, config: ServeConfig) -> int | None:
    """A request's memory budget: it may lower the server's --max-memory, never raise it."""
    if not value:
        return None
    from imgtrans.inference.memory import parse_size

    asked = parse_size(value)
    if config.max_memory is not None and asked > parse_size(config.max_memory):
        raise HTTPError(400, f"max_memory {value} is over the server's --max-memory {config.max_memory}")
    return asked


def _json(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: HTTPError) -> Response:
    return _json(exc.status, exc.message, exc.headers)


async def _library_error(request: Request, exc: ImgtransError) -> Response:
    """The library's one-line message: bad pictures are the client's (415/422), options 400."""
    from imgtrans.io.imageio import ImageError

    return _json(422 if isinstance(exc, ImageError) else 400, str(exc))


async def _not_found(request: Request, exc) -> Response:
    return _json(404, f"no such endpoint {request.url.path!r}")


async def _not_allowed(request: Request, exc) -> Response:
    return _json(405, f"{request.method} is not allowed on {request.url.path!r}")


async def _gone(request: Request, exc: ClientDisconnect) -> Response:
    return _json(400, "the client went away before the request was complete")  # nobody reads it; nothing logged


async def _internal(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s", request.url.path, exc_info=exc)
    return _json(500, f"internal error ({type(exc).__name__}); the server's log has the details")
