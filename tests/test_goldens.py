"""The shipped models' numbers do not drift: each gives, at fp32, the output
stored by `python scripts/make_goldens.py` to 1 level."""

import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_goldens  # noqa: E402

STORED = load_file(str(make_goldens.GOLDENS))
NAMES = sorted({key.partition(".")[0] for key in STORED})


def test_every_shipped_model_has_a_golden():
    import imgtrans

    assert NAMES == sorted(m.name for m in imgtrans.list_models() if m.weights == "shipped")


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_matches_its_golden(name):
    import imgtrans

    if f"{name}.input" in STORED:
        model = imgtrans.load(name, device="cpu", precision="fp32", seed=make_goldens.SEED)
        x = STORED[f"{name}.input"]
        assert np.array_equal(x, make_goldens.golden_input(model))  # the input is still what it was
        y = np.asarray(model(x[..., 0] if x.shape[2] == 1 else x)).reshape(x.shape[:2] + (-1,))
    else:
        model = imgtrans.load(name, device="cpu")
        y = model.sample_array(model.labels[:2], n=2, seed=make_goldens.SEED)
    expected = STORED[f"{name}.output"]
    assert y.shape == expected.shape
    largest = int(np.abs(y.astype(int) - expected.astype(int)).max())
    assert largest <= 1, f"{name}: {largest} levels from its golden"
