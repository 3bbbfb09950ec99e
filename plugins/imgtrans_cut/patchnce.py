"""PatchNCE (Park et al. 2020, section 3.2): an output patch's feature must pick
out the feature of the input patch at the same place among the other patches
of the same image (InfoNCE, temperature tau), in the generator's own encoder
features after a small MLP head per layer (the authors' `PatchSampleF` and
`PatchNCELoss`)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """The authors' `Normalize`: x / (|x| + 1e-7), in float32."""
    x = x.float()
    return x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-7)


class PatchHeads(nn.Module):
    """One two-layer MLP per feature layer (`mlp_0`, `mlp_1`, ...: the
    authors' names), each taking that layer's channels to `units`."""

    def __init__(self, channels: list[int], units: int = 256):
        super().__init__()
        for index, c in enumerate(channels):
            setattr(self, f"mlp_{index}", nn.Sequential(nn.Linear(c, units), nn.ReLU(), nn.Linear(units, units)))
        self.count = len(channels)

    def forward(self, features: list[torch.Tensor], patch_ids: list[torch.Tensor]) -> list[torch.Tensor]:
        """The features at `patch_ids` (flat h * W + w positions, the same for
        every image of the batch, as the authors'), projected and normalised:
        one [B * patches, units] tensor per layer, image-major."""
        out = []
        for index, (feature, ids) in enumerate(zip(features, patch_ids)):
            flat = feature.permute(0, 2, 3, 1).flatten(1, 2)  # B x HW x C
            sample = flat[:, ids.to(flat.device), :].flatten(0, 1)
            out.append(l2_normalise(getattr(self, f"mlp_{index}")(sample)))
        return out


def draw_patch_ids(features: list[torch.Tensor], patches: int, generator: torch.Generator) -> list[torch.Tensor]:
    """`patches` distinct positions per layer (all when a map has fewer), from
    the recipe's own generator, whose state a checkpoint keeps."""
    ids = []
    for feature in features:
        positions = feature.shape[2] * feature.shape[3]
        ids.append(torch.randperm(positions, generator=generator)[: min(patches, positions)])
    return ids


def patch_nce(query: torch.Tensor, key: torch.Tensor, *, batch_size: int, temperature: float,
              all_negatives: bool = False) -> torch.Tensor:
    """Per-patch InfoNCE losses, [B * P].

    `query` (output patches) and `key` (input patches) are [B * P, D],
    image-major and normalised. Each query's positive is the key at its own
    place; its negatives are the other keys of the same image (of the whole
    batch with `all_negatives`, the authors' single-image option). The key
    is a target: no gradient flows into it. As the authors', the self-pair
    among the negatives is masked with a logit of -10, not removed.
    """
    query, key = query.float(), key.detach().float()
    dim = query.shape[1]
    positive = (query * key).sum(1, keepdim=True)
    groups = 1 if all_negatives else batch_size
    q, k = query.view(groups, -1, dim), key.view(groups, -1, dim)
    n = q.shape[1]
    negatives = torch.bmm(q, k.transpose(2, 1))
    diagonal = torch.eye(n, device=query.device, dtype=torch.bool)[None]
    negatives = negatives.masked_fill(diagonal, -10.0).view(-1, n)
    logits = torch.cat([positive, negatives], 1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=query.device),
                           reduction="none")
