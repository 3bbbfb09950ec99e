"""The page at `/` in a real headless Chromium (Debian's package, driven by
Playwright) against a real uvicorn server: translate through the page with
`imgtrans run`'s pixels, compare two models, watch a training run.

Skipped with one line where no Chromium is installed; CI sets
IMGTRANS_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_server import Server

pytestmark = pytest.mark.slow  # opens a browser: `pytest -m 'not slow'` leaves the module out

CHROMIUM = Path(os.environ.get("IMGTRANS_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
EXAMPLE = Path(__file__).parent.parent / "examples" / "cat.jpg"


def _unavailable(reason: str):
    if os.environ.get("IMGTRANS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"IMGTRANS_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("no Playwright (pip install playwright)")
    if not CHROMIUM.is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors  # no JavaScript exception on the page


def test_a_photo_translated_through_the_page_has_imgtrans_runs_pixels(cli, tiny_cyclegan, page, tmp_path):
    ran = cli("run", tiny_cyclegan, EXAMPLE, "-o", tmp_path / "out", "--precision", "fp32")
    assert ran.exit_code == 0, ran.stderr
    expected = np.asarray(Image.open(tmp_path / "out" / "cat.png"))
    with Server() as client:
        page.goto(str(client.base_url))
        page.select_option("#t-model", tiny_cyclegan)
        assert "cyclegan" in page.text_content("#t-card")
        page.select_option("#t-precision", "fp32")
        page.set_input_files("#t-file", str(EXAMPLE))
        page.click("#t-go")
        page.wait_for_selector("#t-download:not([hidden])")
        assert "ms on cpu (fp32)" in page.text_content("#t-info")
        with page.expect_download() as download:
            page.click("#t-download")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == f"cat-{tiny_cyclegan}.png"
        got = np.asarray(Image.open(saved))
        assert got.shape == expected.shape == (300, 451, 3) and np.array_equal(got, expected)

        page.set_input_files("#t-file", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"})
        page.click("#t-go")
        expect(page.locator("#error")).to_contain_text("not an image")

    with Server(max_upload=16 << 10) as client:  # the photo (35 KB) is over it: the page sends it as a job
        page.goto(str(client.base_url))
        page.select_option("#t-model", tiny_cyclegan)
        page.select_option("#t-precision", "fp32")
        page.set_input_files("#t-file", str(EXAMPLE))
        page.click("#t-go")
        expect(page.locator("#t-info")).to_have_text(f"{tiny_cyclegan}: through a job")
        rows = Image.open(EXAMPLE).height  # a picture job counts its rows
        assert page.text_content("#t-progress-text") == f"done: {rows} of {rows} rows"
        with page.expect_download() as download:
            page.click("#t-download")
        download.value.save_as(tmp_path / "job.png")
        assert np.array_equal(np.asarray(Image.open(tmp_path / "job.png")), expected)


def test_compare_two_models_side_by_side(tiny_cyclegan, tiny_pix2pix, page):
    with Server() as client:
        page.goto(str(client.base_url))
        page.click("#tab-compare")
        for name in (tiny_cyclegan, tiny_pix2pix):
            page.check(f"#c-models input[value='{name}']")
        page.set_input_files("#c-file", str(EXAMPLE))
        page.click("#c-go")
        for name in (tiny_cyclegan, tiny_pix2pix):
            figure = page.locator(f"#c-results figure[data-model='{name}']")
            figure.locator("img").wait_for()
            assert figure.locator("img").evaluate("img => img.decode().then(() => img.naturalWidth)") == 451
            assert " ms on cpu" in figure.locator("figcaption").text_content()
        assert page.text_content("#error") == ""


def losses_drawn(page) -> int:
    return page.evaluate("document.querySelectorAll('#r-chart polyline').length")


def test_a_training_run_shows_its_curves_and_grids_and_follows_progress(cli, page, tmp_path):
    rng = np.random.default_rng(0)
    for domain in ("trainA", "trainB"):
        (tmp_path / "uns" / domain).mkdir(parents=True)
        for i in range(2):
            pixels = rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "uns" / domain / f"{i}.png")
    trained = cli("train", "--plugin", "cyclegan", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
                  "--load-size", "36", "--crop-size", "32", "--sample-every", "2", "--save-every", "4",
                  "--data", tmp_path / "uns", "--name", "tiny", "--epochs", "1", "--epochs-decay", "1")
    assert trained.exit_code == 0, trained.stderr
    run = tmp_path / "runs" / "tiny"
    records = (run / "losses.jsonl").read_text().splitlines()
    # A second run "in progress": half its log, one grid, no summary yet.
    live = tmp_path / "runs" / "live"
    shutil.copytree(run, live)
    (live / "summary.json").unlink()
    (live / "samples" / "step-00000004.png").unlink()
    (live / "losses.jsonl").write_text("\n".join(records[:2]) + "\n")

    with Server(runs=tmp_path / "runs") as client:
        page.goto(str(client.base_url))
        page.click("#tab-runs")
        page.click("#r-list button[data-run='tiny']")
        expect(page.locator("#r-status")).to_contain_text("finished")
        keys = json.loads(records[0]).keys() - {"step", "epoch", "time", "lr"}
        assert losses_drawn(page) == len(keys)
        points = page.get_attribute("#r-chart polyline[data-loss='G_A']", "points").split()
        assert len(points) == len(records) == 4
        assert page.get_attribute("#r-slider", "max") == "1" and page.text_content("#r-step") == "4"
        expect(page.locator("#r-grid")).to_have_attribute("src", re.compile("^blob:"))
        assert page.locator("#r-grid").evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
        page.fill("#r-slider", "0")
        expect(page.locator("#r-step")).to_have_text("2")
        assert '"crop_size": 32' in page.text_content("#r-config")

        page.click("#r-list button[data-run='live']")
        expect(page.locator("#r-status")).to_contain_text("training")
        assert len(page.get_attribute("#r-chart polyline[data-loss='G_A']", "points").split()) == 2
        # The run goes on: the page follows without a reload.
        with open(live / "losses.jsonl", "a") as fh:
            fh.write("\n".join(records[2:]) + "\n")
        shutil.copy(run / "samples" / "step-00000004.png", live / "samples")
        shutil.copy(run / "summary.json", live)
        expect(page.locator("#r-status")).to_contain_text("finished")
        assert len(page.get_attribute("#r-chart polyline[data-loss='G_A']", "points").split()) == 4
        assert page.text_content("#r-step") == "4"
        shutil.copytree(run, tmp_path / "runs" / "later")  # a new run appears in the list by itself
        expect(page.locator("#r-list button[data-run='later']")).to_be_visible()


def test_phone_width_and_keyboard(chromium):
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    with Server() as client:
        page.goto(str(client.base_url))
        expect(page.locator("#t-model option").first).to_be_attached()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than a phone
        page.keyboard.press("Tab")  # the first tab, then the arrow keys move between views
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.id") == "tab-compare"
        assert page.is_visible("#view-compare") and not page.is_visible("#view-translate")
        page.keyboard.press("ArrowRight")
        assert page.is_visible("#view-sample") and page.get_attribute("#tab-sample", "aria-selected") == "true"
    context.close()


def test_a_video_through_the_page_with_progress_and_cancel(tiny_cyclegan, page, tmp_path):
    from test_video import pan, write_clip

    short = write_clip(tmp_path / "short.mp4", pan(n=12), audio=False)
    long = write_clip(tmp_path / "long.mp4", pan(n=150, size=(96, 80), step=1), audio=False)
    with Server() as client:
        page.goto(str(client.base_url))
        page.select_option("#t-model", tiny_cyclegan)
        page.set_input_files("#t-file", str(short))
        page.click("#t-go")
        expect(page.locator("#t-download")).to_be_visible()
        assert page.get_attribute("#t-download", "download") == f"short-{tiny_cyclegan}.mp4"
        assert page.text_content("#t-progress-text") == "done: 12 of 12 frames"
        assert page.is_visible("#t-video") and page.is_visible("#t-video-before")  # side by side
        assert page.locator("#t-video").evaluate("v => v.src.startsWith('blob:')")
        # and one over the other, with a before/after slider; the translated one follows the controls
        assert page.is_visible("#t-video-under") and page.is_visible("#t-video-over")
        assert page.get_attribute("#t-video-over", "src") == page.get_attribute("#t-video", "src")
        assert page.get_attribute("#t-video-under", "src") == page.get_attribute("#t-video-before", "src")
        page.fill("#t-video-slider", "30")
        assert page.locator("#t-video-over").evaluate("v => v.style.clipPath") == "inset(0px 0px 0px 30%)"
        followed = page.evaluate("""async () => {
            const under = document.getElementById("t-video-under"), over = document.getElementById("t-video-over");
            if (under.readyState < 1) await new Promise(r => under.addEventListener("loadedmetadata", r, {once: true}));
            under.currentTime = 0.25;
            await new Promise(r => under.addEventListener("seeked", r, {once: true}));
            return over.currentTime;
        }""")
        assert abs(followed - 0.25) < 0.05

        page.set_input_files("#t-file", str(long))
        page.click("#t-go")
        expect(page.locator("#t-progress-text")).to_contain_text("running")
        page.click("#t-cancel")
        expect(page.locator("#t-progress-text")).to_have_text("cancelled")
        assert not page.is_visible("#t-download") and page.text_content("#error") == ""


def test_with_a_token_the_page_asks_for_it(tiny_cyclegan, page):
    with Server(token="s3cret") as client:
        page.goto(str(client.base_url))
        expect(page.locator("#error")).to_contain_text("missing or wrong token")
        page.fill("#token", "s3cret")
        page.press("#token", "Enter")
        expect(page.locator(f"#t-model option[value='{tiny_cyclegan}']")).to_be_attached()
        assert page.is_hidden("#token-form") and page.text_content("#error") == ""


def test_a_conditional_models_grid_through_the_page(cli, page, tmp_path):
    made = cli("sample", "cgan-digits", "-n", "3", "--seed", "5", "--label", "1", "--label", "7",
               "-o", tmp_path / "g.png")
    assert made.exit_code == 0, made.stderr
    with Server() as client:
        page.goto(str(client.base_url))
        page.click("#tab-sample")
        page.select_option("#s-model", "cgan-digits")
        for box in page.locator("#s-labels input").all():
            box.set_checked(box.get_attribute("value") in ("1", "7"))
        page.fill("#s-n", "3")
        page.fill("#s-seed", "5")
        page.click("#s-go")
        expect(page.locator("#s-result")).to_be_visible()
        size = page.locator("#s-grid").evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")
        assert tuple(size) == Image.open(tmp_path / "g.png").size
