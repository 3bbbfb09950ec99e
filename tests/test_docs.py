"""The Python examples in docs/python.md run as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_python_doc_examples_run(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 6
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:  # one namespace: later examples use earlier names, as a reader would
        exec(compile(block, "docs/python.md", "exec"), namespace)
    assert (tmp_path / "cat-vintage.png").is_file() and (tmp_path / "sneaker2boot.onnx").is_file()
