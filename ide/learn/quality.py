"""Image issues beyond labels, pixels in and scores out: dark, light (overexposed), blurry,
low-information, odd-size and odd-aspect-ratio images.

The definitions and default thresholds are cleanvision's (0.3.7,
`cleanvision/issue_managers/image_property.py`), computed here in numpy (PIL only for the
blur's downscale and edge filter, as cleanvision does) so that they need neither its
pandas/matplotlib/imagehash dependencies nor its per-call recomputation. An image is
measured once (`measure`: its PROPERTIES); the scores are made from the measurements of a
whole dataset (`scores`), since odd size is relative to the dataset. Every score is in
[0, 1]; LOWER is MORE severe, and an image is flagged when its score is below its kind's
threshold (`THRESHOLDS`):

- dark: the 99th percentile of pixel brightness; flagged below 0.32 (even its brightest
  pixels are dim).
- light: 1 - the 5th percentile of brightness; flagged below 0.05 (even its darkest pixels
  are nearly white).
  Brightness of a pixel: sqrt(0.241 R^2 + 0.691 G^2 + 0.068 B^2) / 255; of a grey pixel,
  its value / 255.
- low_information: min(1, 0.1 x the entropy of the image's histogram in bits, as PIL's
  `Image.entropy`); flagged below 0.3 (under 3 bits: a nearly flat image).
- blurry: the image scaled so its long side is at most 64 px (bicubic), made grey; b = the
  standard deviation of its edge map (PIL's FIND_EDGES), s = the standard deviation of its
  256-bin histogram; score min(1, (1 - e^(-b/100)) + t) with t = 1 - e^(-s/100) where that
  exceeds 0.18, else 0 (an image of few grey levels, such as a drawing or a digit, is not
  called blurry); flagged below 0.29.
- odd_aspect_ratio: min(w/h, h/w); flagged below 0.35 (one side under 0.35 of the other).
- odd_size: relative to the dataset. With s = sqrt(w h) and the fences lo = Q1 - 3 IQR, hi =
  Q3 + 3 IQR of the dataset's s, the score is 1 - min(1, |s - (lo + hi)/2| / (hi - lo)):
  flagged below 0.5, i.e. outside the fences. Where every size is the same but a few
  (hi = lo), the distance is divided by that common size instead and every image of
  another size is flagged (threshold 1). s is one square root of w h: cleanvision
  multiplies two roots, so there a 56 x 14 image among 28 x 28 ones scores 1 - 1e-16 and is
  flagged although its s is the common one (bench/issues.py shows it).
"""

from __future__ import annotations

import numpy as np

# What `measure` returns, in order; a cache of measurements stores these columns.
PROPERTIES = ("width", "height", "bright_p99", "bright_p5", "entropy", "blur", "grey_std")
THRESHOLDS = {"dark": 0.32, "light": 0.05, "low_information": 0.3, "blurry": 0.29,
              "odd_aspect_ratio": 0.35, "odd_size": 0.5}
KINDS = tuple(THRESHOLDS)
BLUR_SIDE = 64      # the blur is measured on the image scaled to at most this long side
IQR_FACTOR = 3.0    # odd size: the fences are this many IQRs beyond the quartiles
_WEIGHTS = np.array([0.241, 0.691, 0.068])


def measure(pixels: np.ndarray) -> np.ndarray:
    """The (len(PROPERTIES),) float64 measurements of one image: PIXELS (H, W) grey or
    (H, W, 3) RGB, uint8."""
    x = np.asarray(pixels)
    if x.dtype != np.uint8 or x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3) \
            or not x.size:
        raise ValueError(f"an image is (H, W) or (H, W, 3) uint8, got {x.shape} {x.dtype}")
    height, width = x.shape[:2]
    if x.ndim == 2:
        bright = x / 255.0
        counts = np.bincount(x.ravel(), minlength=256)
    else:
        f = x.astype(np.float64)
        bright = np.sqrt((f * f) @ _WEIGHTS) / 255
        # PIL's entropy of an RGB image is over its three histograms side by side.
        counts = np.concatenate([np.bincount(x[..., c].ravel(), minlength=256)
                                 for c in range(3)])
    p99, p5 = np.percentile(bright, [99, 5])
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log2(p)).sum())
    blur, grey_std = _blur(x)
    return np.array([width, height, p99, p5, entropy, blur, grey_std], dtype=np.float64)


def _blur(x: np.ndarray) -> tuple[float, float]:
    """(standard deviation of the edge map, of the 256-bin histogram) of X made small and
    grey, as cleanvision measures them."""
    from PIL import Image, ImageFilter

    im = Image.fromarray(x)
    ratio = max(im.size) / BLUR_SIDE
    if ratio > 1:
        im = im.resize((max(int(im.width // ratio), 1), max(int(im.height // ratio), 1)),
                       Image.BICUBIC)
    grey = im.convert("L")
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    return float(edges.std()), float(np.std(grey.histogram()))


def scores(props: np.ndarray) -> dict[str, np.ndarray]:
    """{kind: (N,) scores in [0, 1], lower more severe} of the images whose measurements
    are the rows of PROPS (N, len(PROPERTIES)), every kind of KINDS; odd size is relative
    to these N images."""
    props = np.asarray(props, dtype=np.float64).reshape(-1, len(PROPERTIES))
    col = dict(zip(PROPERTIES, props.T))
    w, h = col["width"], col["height"]
    return {
        "dark": col["bright_p99"],
        "light": 1 - col["bright_p5"],
        "low_information": np.minimum(0.1 * col["entropy"], 1),
        "blurry": _blurry(col["blur"], col["grey_std"]),
        "odd_aspect_ratio": np.minimum(w / h, h / w),
        "odd_size": _odd_size(np.sqrt(w * h))[0],
    }


def _blurry(blur: np.ndarray, grey_std: np.ndarray) -> np.ndarray:
    blur_score = 1 - np.exp(-0.01 * blur)
    std_score = 1 - np.exp(-0.01 * grey_std)
    std_score[std_score <= 0.18] = 0
    return np.minimum(blur_score + std_score, 1)


def _odd_size(size: np.ndarray) -> tuple[np.ndarray, float]:
    """(scores, threshold) of odd size for the sizes sqrt(w h) of a dataset."""
    if not len(size):
        return size.copy(), THRESHOLDS["odd_size"]
    q1, q3 = np.percentile(size, [25, 75])
    lo, hi = q1 - IQR_FACTOR * (q3 - q1), q3 + IQR_FACTOR * (q3 - q1)
    mid, gap = (lo + hi) / 2, hi - lo
    norm, threshold = (gap, THRESHOLDS["odd_size"]) if gap > 0 else (mid, 1.0)
    return 1 - np.clip(np.abs(size - mid) / norm, 0, 1), threshold


def flags(props: np.ndarray, found: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """{kind: (N,) bool}: which of the images measured in PROPS have each issue (FOUND: their
    `scores`, if already made)."""
    found = scores(props) if found is None else found
    props = np.asarray(props, dtype=np.float64).reshape(-1, len(PROPERTIES))
    threshold = dict(THRESHOLDS, odd_size=_odd_size(np.sqrt(props[:, 0] * props[:, 1]))[1])
    return {kind: found[kind] < threshold[kind] for kind in KINDS}
