"""`imgtrans serve`'s HTTP API: a thin Starlette layer over the library.

Everything goes through `imgtrans.load` and the loaded model's
`translate_arrays` (no second inference path). Safe by default: bound to the
loopback address, the Host header checked against the addresses it serves
(DNS rebinding), a bearer token when it is reachable from elsewhere, no CORS
unless asked, no URL fetching and no server-side paths taken from a request,
uploads and pixels bounded, one computation per device at a time with a
bounded queue (503 with Retry-After beyond it), and every error a 4xx/5xx
JSON body with the CLI's one-line message, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from imgtrans.errors import ImgtransError

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
MAX_SAMPLES_PER_LABEL = 64
_ERROR = {"description": "a one-line error", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}}}}}


def _param(name: str, description: str, kind: str = "string", required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": {"type": kind}}


# The API, described once: served at /openapi.json and drawn at /docs (a page of our own: no CDN).
OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "imgtrans", "version": "1", "description": "Image-to-image translation with GANs over HTTP."},
    "paths": {
        "/healthz": {"get": {"summary": "Liveness (no token needed)", "responses": {"200": {"description": "ok"}}}},
        "/readyz": {"get": {"summary": "Readiness: the warm models and the queue",
                            "responses": {"200": {"description": "ready"}}}},
        "/v1/models": {"get": {"summary": "The models served: name, family, kind, direction, weights, licence",
                               "responses": {"200": {"description": "a list of models"}}}},
        "/v1/translate": {"post": {
            "summary": "Translate one picture at full resolution (multipart field `image`, or the raw body)",
            "parameters": [_param("model", "a model name (GET /v1/models)", required=True),
                           _param("precision", "fp32, tf32, bf16, fp16 or auto"),
                           _param("seed", "dropout noise seed", "integer"), _param("format", "png, jpg, webp or gif")],
            "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
                "image": {"type": "string", "format": "binary"}}}}, "application/octet-stream": {}}},
            "responses": {"200": {"description": "the picture, with X-Imgtrans-Model, -Device, -Precision, "
                                                 "-Streamed and -Ms headers"},
                          "400": _ERROR, "401": _ERROR, "404": _ERROR, "413": _ERROR, "421": _ERROR, "422": _ERROR,
                          "503": _ERROR}}},
        "/v1/sample": {"post": {
            "summary": "A grid of samples from a conditional model: one row per label",
            "parameters": [_param("model", "a conditional model", required=True),
                           _param("labels", "comma-separated names or indices (default: all)"),
                           _param("n", f"samples per label, 1 to {MAX_SAMPLES_PER_LABEL}", "integer"),
                           _param("seed", "the same seed gives the same pixels", "integer")],
            "responses": {"200": {"description": "a PNG grid"}, "400": _ERROR, "404": _ERROR, "503": _ERROR}}},
    },
}


def docs_page() -> str:
    """The API reference as plain HTML, from OPENAPI (works offline)."""
    from html import escape

    parts = ["<!doctype html><meta charset='utf-8'><title>imgtrans API</title>",
             "<style>body{font:15px system-ui;max-width:50em;margin:2em auto;padding:0 1em}code{background:#eee}</style>",
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
    queue: int = 8  # requests waiting for the device beyond the one computing
    extra_hosts: tuple[str, ...] = field(default_factory=tuple)


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Models:
    """Loaded models kept warm (an LRU), one computation at a time, a bounded queue."""

    def __init__(self, config: ServeConfig, registry):
        self.config, self.registry = config, registry
        self.loaded: OrderedDict[tuple, object] = OrderedDict()
        self.lock = asyncio.Lock()
        self.waiting = 0

    def check(self, name: str) -> None:
        allowed = self.config.models
        if (allowed is not None and name not in allowed) or name not in self.registry.models:
            raise HTTPError(404, f"unknown model {name!r}; GET /v1/models lists them")

    def _load(self, key: tuple):
        import imgtrans

        name, precision, seed = key
        model = imgtrans.load(name, device=self.config.device, precision=precision, seed=seed,
                              max_memory=self.config.max_memory, registry=self.registry)
        self.loaded[key] = model
        while len(self.loaded) > self.config.warm_models:
            self.loaded.popitem(last=False)
        return model

    async def run(self, key: tuple, work):
        """`work(model)` on a worker thread, one at a time; 503 when the queue is full."""
        if self.waiting > self.config.queue:
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


def create_app(config: ServeConfig, registry=None) -> Starlette:
    from imgtrans.hub import default_registry

    registry = registry or default_registry()
    models = Models(config, registry)
    allowed_hosts = {f"{h}:{config.port}" for h in (*LOOPBACK, config.host, *config.extra_hosts)}
    allowed_hosts |= {h for h in (*LOOPBACK, config.host, *config.extra_hosts)}

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        return JSONResponse({"ready": True, "warm": [key[0] for key in models.loaded], "waiting": models.waiting})

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
            form = await request.form(max_files=1, max_fields=16, max_part_size=config.max_upload)
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise HTTPError(400, "multipart upload without an 'image' file field")
            data = await upload.read()
            options.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            data = await bounded_body(request, config.max_upload)
        if len(data) > config.max_upload:
            raise HTTPError(413, f"upload over the limit of {config.max_upload} bytes")
        name = options.get("model", "")
        models.check(name)
        fmt = options.get("format", "png").lower()
        if fmt not in MEDIA_TYPES:
            raise HTTPError(400, f"unknown format {fmt!r} (png, jpg, webp or gif)")
        seed = _integer(options.get("seed"), "seed")
        precision = options.get("precision") or None
        family = registry.families.get(registry.models[name].family)
        if family is None or family.kind != "translate":
            raise HTTPError(400, f"{name!r} generates images from labels; it does not translate")

        def work(model):
            from imgtrans import imageio

            picture = imageio.decode(data, channels=model.channels, max_pixels=config.max_pixels)
            start = time.perf_counter()
            [pixels] = model.translate_arrays([picture.pixels])
            ms = (time.perf_counter() - start) * 1e3
            return imageio.encode(pixels, picture.alpha, fmt), model.last_run, ms

        body, ran, ms = await models.run((name, precision, seed), work)
        headers = {"X-Imgtrans-Model": name, "X-Imgtrans-Device": ran.device, "X-Imgtrans-Precision": ran.precision,
                   "X-Imgtrans-Streamed": str(ran.streamed).lower(), "X-Imgtrans-Ms": f"{ms:.1f}"}
        return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)

    async def guard(request: Request, call_next):
        host = request.headers.get("host", "")
        if host not in allowed_hosts:  # DNS rebinding: a page elsewhere naming our address under its own host
            return _json(421, f"host {host!r} is not served here")
        if config.token is not None and request.url.path != "/healthz":
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), config.token.encode()):
                return _json(401, "missing or wrong token (Authorization: Bearer TOKEN)")
        response = await call_next(request)
        if config.cors is not None:
            response.headers["Access-Control-Allow-Origin"] = config.cors
        return response

    async def sample(request: Request) -> Response:
        options = dict(request.query_params)
        if request.headers.get("content-type", "").startswith(("multipart/form-data", "application/x-www-form")):
            form = await request.form(max_files=0, max_fields=16)
            options.update({k: v for k, v in form.items() if isinstance(v, str)})
        name = options.get("model", "")
        models.check(name)
        family = registry.families.get(registry.models[name].family)
        if family is None or family.kind != "conditional":
            raise HTTPError(400, f"{name!r} translates pictures; POST /v1/translate")
        labels = [x.strip() for x in options.get("labels", "").split(",") if x.strip()] or None
        n = _integer(options.get("n"), "n") or 8
        if not 1 <= n <= MAX_SAMPLES_PER_LABEL:
            raise HTTPError(400, f"n must be between 1 and {MAX_SAMPLES_PER_LABEL}, not {n}")
        seed = _integer(options.get("seed"), "seed")

        def work(model):
            from imgtrans import imageio
            from imgtrans.sampling import grid

            return imageio.encode(grid(model.sample_array(labels, n=n, seed=seed)), None, "png")

        body = await models.run((name, None, None), work)
        return Response(body, media_type="image/png", headers={"X-Imgtrans-Model": name})

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page())

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/v1/models", list_models),
              Route("/v1/translate", translate, methods=["POST"]), Route("/v1/sample", sample, methods=["POST"]),
              Route("/openapi.json", openapi), Route("/docs", docs)]
    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)],
                     exception_handlers={HTTPError: _http_error, ImgtransError: _library_error, 404: _not_found,
                                         405: _not_allowed, Exception: _internal})


async def bounded_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"upload over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"upload over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _integer(value: str | None, what: str) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or int(value) >= 2**63:
        raise HTTPError(400, f"{what} must be an integer from 0 to 2**63 - 1, not {value!r}")
    return int(value)


def _json(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: HTTPError) -> Response:
    return _json(exc.status, exc.message, exc.headers)


async def _library_error(request: Request, exc: ImgtransError) -> Response:
    """The library's one-line message: bad pictures are the client's (415/422), options 400."""
    from imgtrans.imageio import ImageError

    return _json(422 if isinstance(exc, ImageError) else 400, str(exc))


async def _not_found(request: Request, exc) -> Response:
    return _json(404, f"no such endpoint {request.url.path!r}")


async def _not_allowed(request: Request, exc) -> Response:
    return _json(405, f"{request.method} is not allowed on {request.url.path!r}")


async def _internal(request: Request, exc: Exception) -> Response:
    return _json(500, f"internal error ({type(exc).__name__}); the server's log has the details")
