"""Image and distribution metrics on float tensors.

Images are [N, C, H, W] in [0, 1]; features are [N, D]. Fréchet distance is
computed in float64 with an eigendecomposition (no scipy), as in FID.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def l1(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference on the [0, 1] scale."""
    return float((a - b).abs().mean())


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over images of 10 log10(1 / MSE), capped at 100 dB for identical images."""
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return float(torch.where(mse > 1e-10, 10 * torch.log10(1 / mse.clamp_min(1e-10)),
                             torch.full_like(mse, 100.0)).mean())


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01,
    K2 0.03, data range 1), over valid window positions, channels and images."""
    channels = a.shape[1]
    window = _gaussian_window().to(a)[None, None].repeat(channels, 1, 1, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(index.mean())


def frechet_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2)) between Gaussians fitted to two feature sets."""
    x, y = x.double(), y.double()
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = torch.cov(x.T), torch.cov(y.T)
    # Tr((S_x S_y)^1/2) = sum of sqrt eigenvalues of S_x^1/2 S_y S_x^1/2 (symmetric, PSD)
    vals, vecs = torch.linalg.eigh(s_x)
    root_x = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(root_x @ s_y @ root_x).clamp_min(0).sqrt().sum()
    return float(((mu_x - mu_y) ** 2).sum() + torch.trace(s_x) + torch.trace(s_y) - 2 * cross)


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of rows: small when samples collapse to one mode."""
    n = x.shape[0]
    if n < 2:
        return math.nan
    d = torch.cdist(x.double().flatten(1)[None], x.double().flatten(1)[None])[0]
    return float(d.sum() / (n * (n - 1)))
