"""The plugin's own test: imgtrans's contract checks, for free.

Run from the plugin's folder: `python -m pytest tests` (with the plugin
installed, or with its folder on PYTHONPATH)."""

from imgtrans.testing import check_family
from imgtrans_colormatrix import FAMILY


def test_colormatrix_keeps_the_imgtrans_contract(tmp_path):
    report = check_family(FAMILY, tmp_path)
    assert "streamed equals whole" in report.passed
