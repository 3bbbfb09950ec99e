"""`imgtrans serve` measured from outside, as a client sees it: a real server
process on 127.0.0.1 and real HTTP requests.

- first request (loads the model) and second request (warm), one 256x256 picture;
- requests per second for 256x256 pictures with 1, 4 and 16 clients sending
  back to back (no retry: a 503 from the bounded queue is counted, not redone);
- idle CPU: the server process's CPU time (user + system, /proc) over 60 s
  with no requests, after the load.

Usage: python benchmarks/serve_speed.py [--model vintage] [--precision auto] [--requests 8] [--idle 60]
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def picture() -> bytes:
    """A 256x256 crop of an example photo, as PNG."""
    with Image.open(ROOT / "examples" / "coffee.jpg") as photo:
        crop = photo.convert("RGB").crop((100, 50, 356, 306))
    out = io.BytesIO()
    crop.save(out, "PNG")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vintage")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--requests", type=int, default=8, help="requests per client count (at least the clients)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measurement")
    options = parser.parse_args()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tempfile.TemporaryDirectory(prefix="imgtrans-bench-")  # a clean cache, removed at the end
    env = {**os.environ, "IMGTRANS_HOME": home.name}
    server = subprocess.Popen([sys.executable, "-m", "imgtrans", "serve", "--port", str(port), "--models",
                               options.model], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    body = picture()
    params = {"model": options.model, "precision": options.precision}
    rows = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)

        with httpx.Client(base_url=base, timeout=600) as client:
            for label in ("first request (loads the model)", "second request (warm)"):
                start = time.perf_counter()
                response = client.post("/v1/translate", params=params, content=body)
                wall = time.perf_counter() - start
                response.raise_for_status()
                rows.append((label, f"{wall * 1000:.0f} ms", f"compute {response.headers['x-imgtrans-ms']} ms on "
                             f"{response.headers['x-imgtrans-device']} ({response.headers['x-imgtrans-precision']})"))

        for clients in (1, 4, 16):
            total = max(options.requests, clients) * (2 if clients > 1 else 1)

            def call(_):
                with httpx.Client(base_url=base, timeout=600) as own:
                    start = time.perf_counter()
                    status = own.post("/v1/translate", params=params, content=body).status_code
                    return status, time.perf_counter() - start

            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                answers = list(pool.map(call, range(total)))
            wall = time.perf_counter() - start
            done = [t for s, t in answers if s == 200]
            refused = sum(s == 503 for s, _ in answers)
            other = len(answers) - len(done) - refused
            median = sorted(done)[len(done) // 2] if done else float("nan")
            rows.append((f"{clients} client(s), {total} requests", f"{len(done) / wall:.2f} req/s",
                         f"median latency {median * 1000:.0f} ms; 503: {refused}; other: {other}"))

        before, start = cpu_seconds(server.pid), time.monotonic()
        time.sleep(options.idle)
        spent, elapsed = cpu_seconds(server.pid) - before, time.monotonic() - start
        rows.append((f"idle {elapsed:.0f} s", f"{spent:.2f} s CPU", f"{100 * spent / elapsed:.2f}% of one core"))
    finally:
        server.terminate()
        server.wait(30)
        home.cleanup()

    print("| measurement | result | detail |")
    print("| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
