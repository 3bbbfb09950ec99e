"""Take docs/serve-page.png, the README's picture of `imgtrans serve`'s page:
a real server, headless Chromium (Debian's package, driven by Playwright), an
example photo translated by the shipped `vintage` model through the page.

Usage: python scripts/page_screenshot.py [--out docs/serve-page.png] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main() -> None:
    import uvicorn
    from playwright.sync_api import expect, sync_playwright

    from imgtrans.server import ServeConfig, create_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "serve-page.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--photo", type=Path, default=ROOT / "examples" / "coffee.jpg")
    options = parser.parse_args()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ServeConfig(port=port)), host="127.0.0.1", port=port,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=options.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 820}, device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{port}/")
            page.select_option("#t-model", "vintage")
            page.set_input_files("#t-file", str(options.photo))
            page.click("#t-go")
            expect(page.locator("#t-download")).to_be_visible(timeout=120_000)
            page.locator("#t-after").evaluate("img => img.decode()")
            page.screenshot(path=str(options.out), full_page=False)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    print(f"wrote {options.out}")


if __name__ == "__main__":
    main()
