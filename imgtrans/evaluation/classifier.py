"""The reference classifier: a small CNN trained on a dataset's real training
split. Its accuracy scores conditional samples and translations; its
penultimate features are the space for Fréchet distances and diversity."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imgtrans.checkpoints import weights
from imgtrans.checkpoints.loading import load_state_strict

FAMILY = "classifier"
PREFIX = "C."


@dataclass(frozen=True)
class ClassifierConfig:
    num_classes: int
    channels: int = 1
    size: int = 28
    width: int = 32
    features: int = 128


class ReferenceClassifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        w, quarter = config.width, config.size // 4
        self.config = config
        self.body = nn.Sequential(
            nn.Conv2d(config.channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * w * quarter * quarter, config.features), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(config.features, config.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class Classifier:
    """A loaded classifier with its label names and recorded test accuracy."""

    net: ReferenceClassifier
    labels: tuple[str, ...]
    name: str
    test_accuracy: float

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """uint8 [N, H, W, C] -> [-1, 1] tensor at the classifier's size and channels."""
        x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
        c = self.net.config
        if x.shape[1] != c.channels:
            x = x.mean(1, keepdim=True) if c.channels == 1 else x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (c.size, c.size):
            x = F.interpolate(x, size=(c.size, c.size), mode="bilinear", antialias=True, align_corners=False)
        return x

    @torch.inference_mode()
    def run(self, images: np.ndarray, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted class [N], features [N, D]) for uint8 [N, H, W, C] images."""
        self.net.eval()
        preds, feats = [], []
        for start in range(0, len(images), batch):
            f = self.net.features(self.prepare(images[start : start + batch]))
            feats.append(f)
            preds.append(self.net.head(f).argmax(1))
        return torch.cat(preds), torch.cat(feats)


def fit(images: np.ndarray, labels: np.ndarray, *, epochs: int, seed: int, batch: int = 128,
        log=print) -> ReferenceClassifier:
    """Adam 1e-3; each batch shifted by up to 2 pixels as augmentation."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    h, w, c = images.shape[1:]
    net = ReferenceClassifier(ClassifierConfig(num_classes=int(labels.max()) + 1, channels=c, size=h))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x_all = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    y_all = torch.from_numpy(labels.astype(np.int64))
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(images))
        total = 0.0
        for start in range(0, len(order), batch):
            index = torch.from_numpy(order[start : start + batch])
            x = F.pad(x_all[index], (2, 2, 2, 2), value=-1.0)
            dy, dx = rng.integers(0, 5, size=2)
            x = x[..., dy : dy + h, dx : dx + w]
            loss = F.cross_entropy(net(x), y_all[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(images):.4f}")
    return net.eval()


def save(net: ReferenceClassifier, path: Path, *, name: str, labels: tuple[str, ...], test_accuracy: float,
         data: str) -> None:
    metadata = weights.make_metadata(
        name=name, family=FAMILY, config=asdict(net.config), preprocess={}, labels=labels,
        summary=f"reference classifier for imgtrans eval; real test accuracy {test_accuracy:.4f}",
        extra={"test_accuracy": f"{test_accuracy:.6f}", "data": data},
    )
    weights.save(path, {PREFIX + k: v for k, v in net.state_dict().items()}, metadata)


def load(path: Path) -> Classifier:
    info = weights.read_info(path)
    if info.family != FAMILY:
        raise weights.WeightsError(f"{path}: not a reference classifier (family {info.family!r})")
    try:
        net = ReferenceClassifier(ClassifierConfig(**info.config))
    except TypeError as exc:
        raise weights.WeightsError(f"{path}: bad classifier config ({exc})") from exc
    load_state_strict(net, weights.load_tensors(path, PREFIX), what=str(path))
    return Classifier(net.eval(), info.labels, info.name, float(info.raw.get(weights.PREFIX + "test_accuracy", "nan")))
