"""safetensors weight files: the one module that reads and writes them.

Metadata (all strings, structured values JSON-encoded) makes each file
self-describing: family, architecture config, preprocessing, provenance.
Reading metadata parses the header directly, so it needs no torch.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgtrans.errors import ImgtransError

FORMAT_VERSION = "1"
PREFIX = "imgtrans."
_JSON_KEYS = ("config", "preprocess", "labels")
_MAX_HEADER = 100 * 1024 * 1024


class WeightsError(ImgtransError):
    """A weights file that is missing, unreadable or not an imgtrans file."""


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file says about itself (from its header)."""

    path: Path
    name: str
    family: str
    config: dict[str, Any]
    preprocess: dict[str, Any]
    direction: str
    license: str
    source: str
    source_sha256: str
    labels: tuple[str, ...]
    summary: str
    raw: dict[str, str]


def make_metadata(
    *,
    name: str,
    family: str,
    config: Mapping[str, Any],
    preprocess: Mapping[str, Any],
    direction: str = "",
    license: str = "unknown",
    source: str = "",
    source_sha256: str = "",
    labels: tuple[str, ...] = (),
    summary: str = "",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    meta = {
        "format": "pt",
        PREFIX + "format_version": FORMAT_VERSION,
        PREFIX + "name": name,
        PREFIX + "family": family,
        PREFIX + "config": json.dumps(dict(config), sort_keys=True),
        PREFIX + "preprocess": json.dumps(dict(preprocess), sort_keys=True),
        PREFIX + "direction": direction,
        PREFIX + "license": license,
        PREFIX + "source": source,
        PREFIX + "source_sha256": source_sha256,
        PREFIX + "labels": json.dumps(list(labels)),
        PREFIX + "summary": summary,
        PREFIX + "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for key, value in (extra or {}).items():
        meta[PREFIX + key] = str(value)
    return meta


def read_header(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Return (metadata, tensor table) from a safetensors header, without torch."""
    try:
        with open(path, "rb") as fh:
            raw_len = fh.read(8)
            if len(raw_len) != 8:
                raise WeightsError(f"{path}: not a safetensors file (too short)")
            (length,) = struct.unpack("<Q", raw_len)
            if length > _MAX_HEADER or length > path.stat().st_size:
                raise WeightsError(f"{path}: not a safetensors file (bad header length)")
            header = json.loads(fh.read(length))
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: not a safetensors file (header is not JSON)") from exc
    except RecursionError:
        raise WeightsError(f"{path}: not a safetensors file (header nested too deeply)") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: not a safetensors file (header is not a table)")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise WeightsError(f"{path}: not a safetensors file (metadata must map text to text)")
    for key, entry in header.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("shape"), list) and isinstance(entry.get("dtype"), str)
                and all(isinstance(n, int) and n >= 0 for n in entry["shape"])):
            raise WeightsError(f"{path}: not a safetensors file (bad entry for tensor {key!r})")
    return metadata, header


def is_imgtrans_file(path: Path) -> bool:
    """A safetensors file with imgtrans metadata (else a foreign checkpoint)."""
    return path.suffix.lower() == ".safetensors" and PREFIX + "family" in read_header(path)[0]


def read_info(path: Path) -> WeightsInfo:
    metadata, _ = read_header(path)
    if PREFIX + "family" not in metadata:
        raise WeightsError(f"{path}: safetensors file without imgtrans metadata")

    def get(key: str, default: str = "") -> str:
        return metadata.get(PREFIX + key, default)

    decoded = {}
    for key in _JSON_KEYS:
        try:
            decoded[key] = json.loads(get(key, "null"))
        except json.JSONDecodeError as exc:
            raise WeightsError(f"{path}: metadata field {key!r} is not JSON") from exc
        except RecursionError:
            raise WeightsError(f"{path}: metadata field {key!r} is nested too deeply") from None
    for key, kind in (("config", dict), ("preprocess", dict), ("labels", list)):
        if decoded[key] is not None and not isinstance(decoded[key], kind):
            raise WeightsError(f"{path}: metadata field {key!r} must be a JSON {'object' if kind is dict else 'list'}")
    if not all(isinstance(label, str) for label in decoded["labels"] or ()):
        raise WeightsError(f"{path}: metadata field 'labels' must list text")
    return WeightsInfo(
        path=path,
        name=get("name", path.stem),
        family=get("family"),
        config=decoded["config"] or {},
        preprocess=decoded["preprocess"] or {},
        direction=get("direction"),
        license=get("license", "unknown"),
        source=get("source"),
        source_sha256=get("source_sha256"),
        labels=tuple(decoded["labels"] or ()),
        summary=get("summary"),
        raw=dict(metadata),
    )


def parameter_count(path: Path, prefix: str = "G.") -> int:
    """Number of parameters stored under `prefix`, counted from the header."""
    _, tensors = read_header(path)
    total = 0
    for key, entry in tensors.items():
        if key.startswith(prefix) and not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            count = 1
            for dim in entry["shape"]:
                count *= dim
            total += count
    return total


def save(path: Path, tensors: Mapping[str, Any], metadata: Mapping[str, str]) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    from safetensors.torch import save_file

    from imgtrans.io.files import set_default_mode

    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        save_file(contiguous, tmp, metadata=dict(metadata))
        set_default_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: Path, prefix: str = "G.") -> dict[str, Any]:
    """Tensors stored under `prefix`, with the prefix removed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path}: cannot load tensors ({exc})") from exc
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
