"""ONNX export: the graph run by onnxruntime matches imgtrans on a real photo."""

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

import imgtrans

PHOTO = Path(__file__).resolve().parents[1] / "examples" / "cat.jpg"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


# cyclegan (affine IN), pix2pix, cyclegan gray
@pytest.mark.slow
@pytest.mark.parametrize("name", ["vintage", "edges2fashion", "sneaker2boot"])
def test_onnx_graph_matches_imgtrans(name, tmp_path):
    model = imgtrans.load(name, device="cpu", precision="fp32", dropout=False)
    path = model.to_onnx(tmp_path / f"{name}.onnx")
    photo = Image.open(PHOTO).convert("RGB" if model.channels == 3 else "L")
    k = model.pad_multiple
    w, h = photo.size
    x = torch.from_numpy(np.array(photo.crop((0, 0, w // k * k, h // k * k)))).float() / 255
    x = x.permute(2, 0, 1) if x.dim() == 3 else x[None]
    batch = torch.stack([x, x.flip(-1)])  # dynamic N, and a size unlike the export example
    ours = model(batch).numpy()
    session = onnxruntime.InferenceSession(str(path))
    theirs = session.run(None, {"image": batch.numpy()})[0]
    assert theirs.shape == ours.shape
    assert psnr(np.round(ours * 255), np.round(theirs * 255)) >= 45


@pytest.mark.slow
def test_onnx_cli(cli, tmp_path):
    written = cli("onnx", "sneaker2boot", "-o", tmp_path / "s.onnx")
    assert written.exit_code == 0, written.stderr
    assert "multiples of 4" in written.stderr and (tmp_path / "s.onnx").stat().st_size > 100_000
    again = cli("onnx", "sneaker2boot", "-o", tmp_path / "s.onnx")
    assert again.exit_code == 2 and "exists (use --overwrite)" in again.stderr
    conditional = cli("onnx", "cgan-digits", "-o", tmp_path / "c.onnx")
    assert conditional.exit_code == 2 and "only translators" in conditional.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".onnx" and p.name != "home") == []
