"""A dataset's training parameters (`params.yaml`) and the defaults for new images.

`Params` is what a version is trained with; every one made is within `BOUNDS`, and
`parse_params` validates the file (YAML, types, bounds), whichever commit it comes from.
The model names are checked here (`check_model`) so that reading a version never needs the
code that trains it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ide.data.formats import load_yaml
from ide.errors import InvalidInput

CNN = "cnn"
LITE0 = "efficientnet-lite0"
AUTO = "auto"  # the better of the CNN and LITE0's head on the dataset's own labels
LIBRARIES = ("timm:", "torchvision:")


def check_model(model: str) -> None:
    """An unknown model name is a one-line error listing the known ones."""
    if model not in (AUTO, CNN, LITE0) and not (
            model.startswith(LIBRARIES) and len(model.split(":", 1)[1]) > 0):
        raise InvalidInput(f"unknown model {model!r}: use auto, cnn, {LITE0}, timm:ARCH or "
                           "torchvision:ARCH (with weights: FILE)")


@dataclass(frozen=True)
class Params:
    """Training parameters of a dataset, from its `params.yaml`.

    The CNN's defaults are the recipe of bench/recipe.py (chosen on planted noise and
    out-of-fold accuracy): 99.4% out-of-fold on the 10,000 real MNIST test digits and 90.6%
    on Fashion-MNIST's, about 70 s for all four folds on 2 CPU cores (bench/models.py).
    Four folds, not five: on 2 cores folds train two at a time, and a fifth fold trained
    alone while a core idled; the time saved buys 16 epochs instead of 8.
    """
    model: str = CNN         # cnn, a pretrained backbone (ide.learn.backbone) + K-fold head, or
    #                          auto: the better of the two on the first training (ide.learn.choice)
    weights: str = ""        # a backbone's weights file (default: the packaged weights)
    folds: int = 4
    epochs: int = 16
    batch_size: int = 64
    lr: float = 0.01
    image_size: int = 28     # the side images are resized to before the network
    seed: int = 0
    width: int = 16
    warm_epochs: int = 1     # epochs of fine-tuning after a small commit (warm start)
    min_steps: int = 150     # small datasets get smaller batches, then more epochs
    decay: float = 0.03      # L2 penalty of a backbone's logistic-regression head
    finetune: int = 0        # 1: train a backbone whole per fold (for a GPU) instead of a head

    def __post_init__(self):
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:  # False for NaN too
                raise InvalidInput(f"{name} must be from {low} to {high}, found {value}")
        check_model(self.model)

    @classmethod
    def parse(cls, data: dict | None, source: str = "params.yaml") -> "Params":
        """Params from the mapping DATA, each value of its field's type and within BOUNDS;
        errors name SOURCE."""
        data = dict(data or {})
        types = {f.name: f.type for f in fields(cls)}
        unknown = set(data) - set(types)
        if unknown:
            raise InvalidInput(f"{source}: unknown parameter(s) {', '.join(sorted(unknown))}")
        for k, v in data.items():
            if types[k] == "str" and v is None:
                data[k] = ""  # `weights:` left blank: the default
            elif not isinstance(v, _TYPES[types[k]]) or isinstance(v, bool):
                raise InvalidInput(f"{source}: {k} must be {_NAMES[types[k]]}, found {v!r}")
            elif types[k] == "float":
                data[k] = float(v)
        try:
            return cls(**data)
        except InvalidInput as exc:
            raise InvalidInput(f"{source}: {exc}") from None


_TYPES = {"str": str, "int": int, "float": (int, float)}
_NAMES = {"str": "text", "int": "a whole number", "float": "a number"}
# Each number's range: wide enough for any sensible run, narrow enough that a typo cannot
# ask for hours of training (at most 100 epochs of 10,000 steps, of at most 20 folds) or
# for more memory than a machine has (512 x 512 images in batches of 1,024).
BOUNDS = {
    "folds": (2, 20),
    "epochs": (1, 100),
    "warm_epochs": (1, 100),     # 0 would make the warm start's schedule empty
    "min_steps": (0, 10_000),
    "batch_size": (2, 1024),     # batch norm needs two examples a batch
    "image_size": (8, 512),      # the CNN max-pools twice, to a 3 x 3 grid
    "width": (1, 128),
    "lr": (1e-6, 1.0),           # a learning rate: finite and positive
    "decay": (0.0, 10.0),
    "seed": (0, 2**32 - 1),
    "finetune": (0, 1),
}


# The fields each kind of model reads, beside `model`, `folds` and `seed`: params.yaml lists
# only those of its model, since the others would change nothing (a reader would think
# they do). A backbone fine-tuned whole (`finetune: 1`) trains with the CNN's loop.
CNN_FIELDS = ("epochs", "batch_size", "lr", "image_size", "width", "warm_epochs", "min_steps")
HEAD_FIELDS = ("weights", "decay", "finetune")


def used_fields(params: Params) -> dict:
    """PARAMS as params.yaml holds them: the fields its model reads, in Params' order."""
    if params.model == AUTO:  # either model may be chosen
        own = CNN_FIELDS + ("weights", "decay")
    else:
        own = CNN_FIELDS if params.model == CNN else HEAD_FIELDS + (
            tuple(f for f in CNN_FIELDS if f not in ("image_size", "width"))
            if params.finetune else ())
    return {f.name: getattr(params, f.name) for f in fields(params)
            if f.name in ("model", "folds", "seed", *own)}


def parse_params(text: str | None, source: str = "params.yaml") -> Params:
    """params.yaml text (None: no such file) -> the training parameters, validated; errors
    name SOURCE."""
    return Params.parse(load_yaml(text, source), source)


def default_params(model: str | None = None) -> Params:
    """Training parameters of a new dataset: MODEL, or `auto`, which compares the CNN with
    the pretrained backbone's head on the dataset's first training (`ide.learn.choice`).
    Image size says little about which wins (on 64-px colour digits the CNN does, on
    photos the backbone), so it is measured instead."""
    model = AUTO if model is None else model
    check_model(model)
    return Params(model=model)
