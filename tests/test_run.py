"""`imgtrans run` on real image files: modes, sizes, bad inputs, pipes, outputs."""

import io
import json
import re

import numpy as np
import pytest
from conftest import random_image
from PIL import Image


def outputs(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_odd_sizes_alpha_grayscale_exif(cli, tiny_cyclegan, tmp_path):
    photos = tmp_path / "photos"
    random_image(photos / "odd.jpg", size=(53, 37))
    random_image(photos / "alpha.png", size=(41, 30), mode="RGBA")
    random_image(photos / "gray.png", size=(31, 29), mode="L")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees: portrait
    random_image(photos / "rotated.jpg", size=(60, 24), exif=exif)

    result = cli("run", tiny_cyclegan, photos, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out"
    assert outputs(out) == ["alpha.png", "gray.png", "odd.png", "rotated.png"]
    with Image.open(out / "odd.png") as im:
        assert im.size == (53, 37) and im.mode == "RGB"
    with Image.open(out / "alpha.png") as im, Image.open(photos / "alpha.png") as src:
        assert im.mode == "RGBA" and im.size == (41, 30)
        assert np.array_equal(np.asarray(im.getchannel("A")), np.asarray(src.getchannel("A")))
    with Image.open(out / "gray.png") as im:
        assert im.size == (31, 29)
    with Image.open(out / "rotated.png") as im:
        assert im.size == (24, 60)


def test_folder_with_bad_files_names_each_and_finishes_the_rest(cli, tiny_cyclegan, tmp_path):
    photos = tmp_path / "photos"
    random_image(photos / "a.jpg")
    random_image(photos / "b.png", size=(20, 20))
    good = (photos / "a.jpg").read_bytes()
    (photos / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (photos / "empty.png").write_bytes(b"")
    (photos / "notes.jpg").write_text("this is not a picture")
    (photos / "readme.txt").write_text("ignored: not an image extension")

    result = cli("run", tiny_cyclegan, photos, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    status = {line["input"].split("/")[-1]: line["status"] for line in lines}
    assert status == {
        "a.jpg": "ok",
        "b.png": "ok",
        "truncated.jpg": "error",
        "empty.png": "error",
        "notes.jpg": "error",
    }
    assert all(line["error"] for line in lines if line["status"] == "error")
    assert outputs(tmp_path / "out") == ["a.png", "b.png"]
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 3
    for name, reason in (("truncated.jpg", "truncated"), ("empty.png", "empty file"), ("notes.jpg", "not an image")):
        assert any(name in line and reason in line for line in errors), (name, errors)
    assert "Traceback" not in result.stderr


def test_missing_input_and_glob(cli, tiny_cyclegan, tmp_path):
    random_image(tmp_path / "p" / "x1.png", size=(16, 16))
    random_image(tmp_path / "p" / "x2.png", size=(16, 16))
    result = cli("run", tiny_cyclegan, str(tmp_path / "p" / "*.png"), tmp_path / "nope.jpg", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "nope.jpg: no such file or directory" in result.stderr
    assert outputs(tmp_path / "out") == ["x1.png", "x2.png"]


def test_stdin_to_stdout(cli, tiny_cyclegan, tmp_path):
    random_image(tmp_path / "in.jpg", size=(45, 33))
    result = cli("run", tiny_cyclegan, "-", input=(tmp_path / "in.jpg").read_bytes())
    assert result.exit_code == 0, result.stderr
    with Image.open(io.BytesIO(result.stdout_bytes)) as im:
        assert im.format == "PNG" and im.size == (45, 33)
    bad = cli("run", tiny_cyclegan, "-", input=b"garbage")
    assert bad.exit_code == 1 and "<stdin>" in bad.stderr


def test_existing_outputs_are_skipped_and_inputs_never_overwritten(cli, tiny_cyclegan, tmp_path):
    src = random_image(tmp_path / "pic.png", size=(20, 16))
    before = src.read_bytes()
    result = cli("run", tiny_cyclegan, src, "-o", tmp_path)
    assert result.exit_code == 1 and "overwrite the input" in result.stderr
    assert src.read_bytes() == before

    out = tmp_path / "out"
    assert cli("run", tiny_cyclegan, src, "-o", out, "--suffix", "_t", "--ext", "jpg").exit_code == 0
    target = out / "pic_t.jpg"
    target.write_bytes(b"keep me")
    again = cli("run", tiny_cyclegan, src, "-o", out, "--suffix", "_t", "--ext", "jpg", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "skipped"
    assert target.read_bytes() == b"keep me"
    forced = cli("run", tiny_cyclegan, src, "-o", out, "--suffix", "_t", "--ext", "jpg", "--overwrite")
    assert forced.exit_code == 0 and target.read_bytes()[:2] == b"\xff\xd8"


def test_default_output_folder_and_webp(cli, tiny_cyclegan, tmp_path):
    random_image(tmp_path / "a.png", size=(12, 12))
    assert cli("run", tiny_cyclegan, "a.png", "--ext", "webp").exit_code == 0
    assert (tmp_path / "imgtrans-out" / tiny_cyclegan / "a.webp").is_file()


def test_recursive_keeps_subfolders(cli, tiny_cyclegan, tmp_path):
    random_image(tmp_path / "set" / "a" / "x.png", size=(12, 12))
    random_image(tmp_path / "set" / "b" / "x.png", size=(12, 12))
    result = cli("run", tiny_cyclegan, tmp_path / "set", "-r", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "a" / "x.png").is_file() and (tmp_path / "out" / "b" / "x.png").is_file()


def test_usage_errors_exit_2(cli, tiny_cyclegan, tmp_path):
    random_image(tmp_path / "a.png", size=(12, 12))
    unknown = cli("run", "tinny", "a.png")
    assert unknown.exit_code == 2 and "unknown model 'tinny'" in unknown.stderr and "tiny" in unknown.stderr
    assert cli("run", tiny_cyclegan, "a.png", "--ext", "tga").exit_code == 2
    assert cli("run", tiny_cyclegan, "a.png", "--ext", "gif", "-o", "g").exit_code == 0  # a still GIF
    assert Image.open(tmp_path / "g" / "a.gif").format == "GIF"
    assert cli("run", tiny_cyclegan, "a.png", "--device", "tpu").exit_code == 2
    assert cli("run", tiny_cyclegan, "-", "a.png").exit_code == 2


def test_missing_weights_says_how_to_get_them(cli, tmp_path):
    import imgtrans
    from imgtrans.plugins import make_plugin_manager

    class Catalogue:
        @imgtrans.hookimpl
        def register_models(self, register):
            register(imgtrans.ModelSpec(name="ghost", family="cyclegan", summary="no weights", direction="a -> b"))

    random_image(tmp_path / "a.png", size=(12, 12))
    result = cli("run", "ghost", "a.png", pm=make_plugin_manager(plugins=(Catalogue(),)))
    assert result.exit_code == 2
    assert "imgtrans weights import FILE --name ghost`" in result.stderr


def test_load_size_resizes_shorter_side(cli, tiny_cyclegan, tmp_path):
    random_image(tmp_path / "a.png", size=(80, 40))
    assert cli("run", tiny_cyclegan, "a.png", "--load-size", "20", "-o", "out").exit_code == 0
    with Image.open(tmp_path / "out" / "a.png") as im:
        assert im.size == (40, 20)


@pytest.mark.parametrize("make", ["palette", "cmyk", "sixteen_bit"])
def test_other_modes_convert(cli, tiny_cyclegan, tmp_path, make):
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (18, 22, 3), dtype=np.uint8))
    if make == "palette":
        image = rgb.convert("P")
        image.info["transparency"] = 0
        image.save(tmp_path / "in.png", transparency=0)
    elif make == "cmyk":
        rgb.convert("CMYK").save(tmp_path / "in.jpg")
    else:
        Image.fromarray(rng.integers(0, 65536, (18, 22), dtype=np.uint16)).save(tmp_path / "in.png")
    name = next(p.name for p in tmp_path.iterdir() if p.name.startswith("in."))
    result = cli("run", tiny_cyclegan, name, "-o", "out")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "out" / "in.png") as im:
        assert im.size == (22, 18)
        assert (im.mode == "RGBA") == (make == "palette")


def test_sixteen_bit_scaling():
    from imgtrans.io.imageio import decode

    buffer = io.BytesIO()
    Image.fromarray(np.array([[0, 257 * 128, 65535]], dtype=np.uint16)).save(buffer, format="PNG")
    picture = decode(buffer.getvalue())
    assert picture.pixels[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("command", ["run", "train", "sample", "eval", "onnx"])
def test_help_keeps_defaults_and_environment_variables(cli, command, monkeypatch):
    """Rich reads [brackets] in help text as markup and drops them: defaults
    and environment variables are written in parentheses."""
    monkeypatch.setenv("COLUMNS", "400")
    shown = cli(command, "--help")
    assert shown.exit_code == 0
    assert "(env: IMGTRANS_" in shown.stdout or "(default:" in shown.stdout
    assert not re.search(r" [.;](\s|$)", shown.stdout, re.M)  # what a dropped [..] leaves before . or ;
