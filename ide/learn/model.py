"""The network: a small convolutional classifier, plain `nn.Module`, no IO.

Small on purpose: the IDE trains K models per commit on a CPU. Four 3x3 conv blocks
(widths w, 2w, 2w, 4w) with two max-pools, then the feature map max-pooled to a 3x3 grid and
flattened into a linear layer. The flattened grid keeps *where* a stroke is, which a global
average discards: on the real MNIST test set it lifts out-of-fold accuracy from 97.1% to
99.3% at the same cost (bench/recipe.py). Any input side works (the grid is adaptive).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

GRID = 3  # the last feature map is max-pooled to GRID x GRID before the linear layer


@dataclass
class ModelConfig:
    classes: int
    channels: int = 1        # 1 for grayscale, 3 for colour
    image_size: int = 28     # images are resized to image_size x image_size
    width: int = 16          # channels of the first block

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
            _block(w, 2 * w), _block(2 * w, 2 * w), nn.MaxPool2d(2),
            _block(2 * w, 4 * w), nn.AdaptiveMaxPool2d(GRID), nn.Flatten(),
        )
        self.head = nn.Linear(4 * w * GRID * GRID, config.classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """x: (B, C, S, S) floats in [0, 1] -> logits (B, K), and the mean loss if y is given.

        No label smoothing: the probabilities are used to score labels.
        """
        logits = self.head(self.features(x - 0.5))
        loss = None if y is None else F.cross_entropy(logits, y)
        return logits, loss
