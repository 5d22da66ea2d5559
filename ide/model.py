"""The network: a small convolutional classifier, plain `nn.Module`, no IO.

Small on purpose: the IDE trains K models per commit on a CPU, and what it needs is
calibrated out-of-sample probabilities, not the last point of accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelConfig:
    classes: int
    channels: int = 1        # 1 for grayscale, 3 for colour
    image_size: int = 28     # images are resized to image_size x image_size
    width: int = 32          # channels of the first block; doubled per block

    def to_dict(self) -> dict:
        return asdict(self)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Net(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.features = nn.Sequential(
            _block(config.channels, w), nn.MaxPool2d(2),
            _block(w, 2 * w), nn.MaxPool2d(2),
            _block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * w, config.classes))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """x: (B, C, S, S) floats in [0, 1] -> logits (B, K), and the mean loss if y is given."""
        logits = self.head(self.features(x - 0.5))
        loss = None if y is None else F.cross_entropy(logits, y, label_smoothing=0.0)
        return logits, loss
