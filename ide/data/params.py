"""A dataset's training parameters (`params.yaml`) and the defaults for new images.

`Params` is what a version is trained with; `parse_params` validates the file, whichever
commit it comes from. The model names are checked here (`check_model`) so that reading a
version never needs the code that trains it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import yaml

from ide.errors import InvalidInput

CNN = "cnn"
LITE0 = "efficientnet-lite0"
LIBRARIES = ("timm:", "torchvision:")


def check_model(model: str) -> None:
    """An unknown model name is a one-line error listing the known ones."""
    if model != "cnn" and model != LITE0 and not (
            model.startswith(LIBRARIES) and len(model.split(":", 1)[1]) > 0):
        raise InvalidInput(f"unknown model {model!r}: use cnn, {LITE0}, timm:ARCH or "
                           "torchvision:ARCH (with weights: FILE)")


@dataclass(frozen=True)
class Params:
    """Training parameters of a dataset, from its `params.yaml`.

    The defaults are the recipe chosen in bench/recipe.py: 99.3% out-of-fold on the 10,000
    real MNIST test digits in about 70 s for all five folds on 2 CPU cores.
    """
    model: str = CNN         # cnn, or a pretrained backbone (see ide.learn.backbone) + K-fold head
    weights: str = ""        # a backbone's weights file (default: the packaged weights)
    folds: int = 5
    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.01
    image_size: int = 28     # the side images are resized to before the network
    seed: int = 0
    width: int = 16
    warm_epochs: int = 1     # epochs of fine-tuning after a small commit (warm start)
    min_steps: int = 400     # small datasets get smaller batches, then more epochs
    decay: float = 0.03      # L2 penalty of a backbone's logistic-regression head
    finetune: int = 0        # 1: train a backbone whole per fold (for a GPU) instead of a head

    @classmethod
    def parse(cls, data: dict | None) -> "Params":
        data = dict(data or {})
        types = {f.name: f.type for f in fields(cls)}
        unknown = set(data) - set(types)
        if unknown:
            raise InvalidInput(f"params.yaml: unknown parameter(s) {', '.join(sorted(unknown))}")
        cast = {"str": str, "float": float, "int": int}
        try:
            p = cls(**{k: cast[types[k]](v if v is not None else "") for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"params.yaml: {exc}") from None
        if p.folds < 2 or p.epochs < 1 or p.batch_size < 2 or p.image_size < 4 or p.lr <= 0 \
                or p.decay < 0:
            raise InvalidInput("params.yaml: need folds >= 2, epochs >= 1, batch_size >= 2, "
                               "image_size >= 4, lr > 0, decay >= 0")
        check_model(p.model)
        return p


def parse_params(text: str | None) -> Params:
    """params.yaml text (None: no such file) -> the training parameters, validated."""
    data = yaml.safe_load(text or "") or {}
    if not isinstance(data, dict):
        raise InvalidInput("params.yaml must be a mapping of name: value")
    return Params.parse(data)


def default_params(side: int, *, grey: bool, model: str | None = None) -> Params:
    """Training parameters for images of SIDE px: MODEL, or the one measured best for them.

    Digits and other small or grey images: the CNN at 28 px, whatever their size (at 8, 16,
    32 and 64 px its precision is the same; bench/models.py). Colour images larger than
    48 px: the pretrained EfficientNet-Lite0 and a K-fold head, which is how a few thousand
    photos get a strong model (ImageNet features do not help grey 8-px digits: 0.92
    precision@k against the CNN's 0.99, bench/models.py).
    """
    if model is None:
        model = CNN if grey or side <= 48 else LITE0
    check_model(model)
    return Params(model=model)
