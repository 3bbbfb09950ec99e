"""FID and KID exactly as the standard tools compute them (imports torch).

Two protocols, each matching its tool:
- `clean` (clean-fid's default): each channel resized to 299x299 by Pillow's
  antialiased bicubic on float32 values, clipped to 0-255, normalised as
  (x - 128) / 128;
- `legacy-pytorch` (pytorch-fid): pixels in [0, 1], bilinear to 299x299 with
  torch's `interpolate` (no antialiasing, align_corners False), then 2x - 1.
Both then run the FID Inception network (the TF 2015-12-05 weights ported to
PyTorch, `imgtrans.evaluation.inception`) and keep its 2048 pooled features.
FID is the Fréchet distance of the features' Gaussians (scipy's `sqrtm`, as
both tools); KID is clean-fid's unbiased polynomial-kernel MMD over random
subsets of at most 1,000 (with fewer images than that, every subset is the
whole set and the figure is exact).

Pictures are read as the tools read them: Pillow, converted to RGB, no EXIF
rotation. Score PNG outputs: JPEG's artefacts move FID by tens of points.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from imgtrans.errors import ImgtransError, OptionError
from imgtrans.io.files import write_atomic

MODES = ("clean", "legacy-pytorch")
RESIZES = {"clean": "Pillow bicubic (antialiased) to 299x299 on float32 channels, clipped to 0-255 (clean-fid's clean)",
           "legacy-pytorch": "torch bilinear to 299x299, align_corners=False, no antialiasing (pytorch-fid)"}
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
# torch.hub's convention: the file name carries the first 8 hex digits of its sha256.
WEIGHTS_SHA256_PREFIX = "6726825d"
FEATURES = 2048
CACHE_VERSION = 1  # bump when the features' computation changes
SIDE = 299
IMAGE_SUFFIXES = (".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")


class FIDError(ImgtransError):
    """A weights file, folder or image set that cannot be scored."""


@dataclass(frozen=True)
class Scores:
    fid: float
    kid: float | None
    generated: int
    real: int

    @property
    def small(self) -> bool:
        """Fewer images than feature dimensions: the covariances are rank
        deficient and FID is strongly biased upwards; KID is the figure to quote."""
        return min(self.generated, self.real) < FEATURES


def resize_clean(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 3x299x299 float32 in 0-255, as clean-fid's `clean` mode."""
    channels = []
    for c in range(3):
        plane = Image.fromarray(pixels[:, :, c].astype(np.float32), mode="F")
        channels.append(np.asarray(plane.resize((SIDE, SIDE), resample=Image.Resampling.BICUBIC)).clip(0, 255))
    return np.stack(channels).astype(np.float32)


def prepare(pictures: Sequence[np.ndarray], mode: str) -> torch.Tensor:
    """N pictures (HxWx3 uint8, any sizes) -> N x 3 x 299 x 299, normalised for the network."""
    if mode == "clean":
        return (torch.from_numpy(np.stack([resize_clean(p) for p in pictures])) - 128) / 128
    resized = [F.interpolate(torch.from_numpy(np.array(p)).permute(2, 0, 1)[None].float() / 255,
                             size=(SIDE, SIDE), mode="bilinear", align_corners=False) for p in pictures]
    return 2 * torch.cat(resized) - 1


def read_picture(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as exc:  # Pillow raises many types on a bad file
        raise FIDError(f"{path}: not a readable image ({type(exc).__name__})") from None


def folder_pictures(folder: Path) -> list[Path]:
    """The folder's pictures, sorted by name (the tools' order): not
    recursive (as pytorch-fid; clean-fid also descends), hidden files such as
    macOS's `._x.png` left out (as clean-fid's glob does), suffixes in any case."""
    if not folder.is_dir():
        raise FIDError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
    if len(files) < 2:
        raise FIDError(f"{folder}: {len(files)} picture(s); FID needs at least 2")
    return files


class Extractor:
    """The FID network on a device, and a feature cache keyed by the inputs,
    the mode and the weights file's sha256 (re-scoring a model does not
    re-extract the real images)."""

    def __init__(self, weights: Path, *, device: torch.device, cache: Path | None, batch_size: int = 50):
        from imgtrans.checkpoints.weights import sha256_file
        from imgtrans.evaluation.inception import FIDInception

        self.weights_sha256 = sha256_file(weights)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            network = FIDInception()
            network.load_state_dict(state)
        except Exception as exc:  # a wrong or damaged file: one line
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise FIDError(f"{weights}: not the FID Inception weights ({reason})") from None
        self.network = network.to(device).eval()
        self.device = device
        self.cache = cache
        self.batch_size = batch_size

    @torch.inference_mode()
    def features(self, pictures: Iterable[np.ndarray], mode: str) -> np.ndarray:
        """N x 2048 features, kept as float32 (clean-fid does; pytorch-fid's
        float64 copy of the same values changes FID by under 1e-9), computed in
        true fp32 on CUDA too (no TF32)."""
        from imgtrans.inference.precision import arithmetic

        if mode not in MODES:
            raise OptionError(f"unknown FID mode {mode!r} (choose from {', '.join(MODES)})")
        out, batch = [], []
        with arithmetic(self.device, "fp32"):
            for picture in pictures:
                batch.append(picture)
                if len(batch) == self.batch_size:
                    out.append(self.network(prepare(batch, mode).to(self.device)).cpu().numpy())
                    batch = []
            if batch:
                out.append(self.network(prepare(batch, mode).to(self.device)).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def folder_features(self, folder: Path, mode: str, *, pictures: Callable[[], Iterable[np.ndarray]] | None = None,
                        tag: str = "") -> np.ndarray:
        """Features of a folder's pictures (or of `pictures()`, derived from
        the folder's files as `tag` says), from the cache when the files'
        contents, the mode, the weights and the device type are unchanged."""
        files = folder_pictures(folder)
        contents = hashlib.sha256()
        for picture in files:
            contents.update(picture.name.encode() + b"\0" + hashlib.sha256(picture.read_bytes()).digest())
        key = hashlib.sha256(json.dumps([CACHE_VERSION, tag, mode, self.weights_sha256, self.device.type,
                                         contents.hexdigest()]).encode())
        path = self.cache / f"{key.hexdigest()[:32]}.npy" if self.cache is not None else None
        if path is not None and path.is_file():
            return np.load(path)
        feats = self.features(pictures() if pictures else (read_picture(p) for p in files), mode)
        if path is not None:
            buffer = io.BytesIO()
            np.save(buffer, feats)
            write_atomic(path, buffer.getvalue(), overwrite=True)
        return feats


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), computed as pytorch-fid
    and clean-fid do (scipy's sqrtm, an eps on the diagonal if the product is
    singular, the real part of a nearly real root)."""
    from scipy import linalg

    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular products are expected with few pictures: the tools go on too
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(sigma1.dot(sigma2))  # (scipy's `disp=False`, which the tools pass, is deprecated)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise FIDError(f"the covariances' product has a complex square root (imaginary part "
                           f"{np.max(np.abs(covmean.imag)):.3g})")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(generated: np.ndarray, real: np.ndarray) -> float:
    return frechet_distance(np.mean(generated, axis=0), np.cov(generated, rowvar=False),
                            np.mean(real, axis=0), np.cov(real, rowvar=False))


def kid(generated: np.ndarray, real: np.ndarray, *, subsets: int = 100, max_subset_size: int = 1000,
        seed: int = 0) -> float:
    """clean-fid's KID: the polynomial kernel (x.y / d + 1)^3, unbiased MMD^2
    averaged over `subsets` random subsets of m = min(n1, n2, 1000) images."""
    rng = np.random.default_rng(seed)
    d = generated.shape[1]
    m = min(generated.shape[0], real.shape[0], max_subset_size)
    total = 0.0
    for _ in range(subsets):
        x = real[rng.choice(real.shape[0], m, replace=False)]
        y = generated[rng.choice(generated.shape[0], m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / subsets / m)


def score(generated: np.ndarray, real: np.ndarray, *, with_kid: bool = True, seed: int = 0) -> Scores:
    if len(generated) < 2 or len(real) < 2:
        raise FIDError(f"FID needs at least 2 pictures on each side ({len(generated)} and {len(real)})")
    return Scores(fid(generated, real), kid(generated, real, seed=seed) if with_kid else None,
                  len(generated), len(real))


def weights_file(given: Path | None, *, mirror: str | None = None,
                 progress: Callable[[int, int | None], None] | None = None) -> Path:
    """`given`, else the standard file in the cache (downloaded on first use
    through the weights' download machinery, its sha256 prefix checked)."""
    if given is not None:
        if not given.is_file():
            raise FIDError(f"{given}: no such file (the FID Inception weights, {WEIGHTS_FILE})")
        return given
    from imgtrans.checkpoints import store
    from imgtrans.checkpoints.download import DownloadError, fetch, mirrored, progress_callbacks

    folder = store.home() / "fid"
    path = folder / WEIGHTS_FILE
    if path.is_file():
        return path
    url = mirrored(WEIGHTS_URL, mirror)
    on_start, on_chunk = progress_callbacks(progress)
    part = None
    try:
        part, sha256 = fetch(url, folder, on_start=on_start, on_chunk=on_chunk)
        if not sha256.startswith(WEIGHTS_SHA256_PREFIX):
            raise FIDError(f"{url}: sha256 {sha256} does not start with {WEIGHTS_SHA256_PREFIX} (not {WEIGHTS_FILE})")
        part.replace(path)
    except DownloadError as exc:
        raise FIDError(f"could not get the FID Inception weights from {url}: {exc}; on an offline machine copy "
                       f"{WEIGHTS_FILE} there and pass --inception FILE (docs/evaluation.md)") from None
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
    return path
