"""A 2-D projection of embeddings, for the app's Map page: numpy in, numpy out.

The method was chosen by `bench/projection.py` (speed at 10,000 and 100,000 examples, and
how well the classes stay apart in 2-D): see its table in docs/SCALE.md. Embeddings wider
than `PCA_DIMS` are first reduced by PCA, as the method's authors advise (the neighbour
search is then cheaper and less noisy). The result is deterministic for a given input.
"""

from __future__ import annotations

import numpy as np

PCA_DIMS = 50
METHODS = ("umap", "pca")
DEFAULT_METHOD = "umap"
# What a projection depends on besides its input: a cached layout made otherwise is stale.
SETTING = {"method": DEFAULT_METHOD, "pca_dims": PCA_DIMS, "seed": 0, "version": 1}


def project(z: np.ndarray, *, method: str = DEFAULT_METHOD, seed: int = 0) -> np.ndarray:
    """(N, 2) float32 points of the (N, D) embeddings Z, so that examples close in Z are
    close on the map. A handful of examples (too few for a neighbour graph) are laid out
    by PCA."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; one of {', '.join(METHODS)}")
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {z.shape}")
    if len(z) < 3:
        return np.zeros((len(z), 2), np.float32) + np.arange(len(z))[:, None]
    if method == "pca" or len(z) < 20:
        return _pca(z, 2, seed)
    return _umap(_pca(z, PCA_DIMS, seed) if z.shape[1] > PCA_DIMS else z, seed)


def _pca(z: np.ndarray, dims: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    dims = min(dims, *z.shape)
    out = PCA(dims, random_state=seed).fit_transform(z).astype(np.float32)
    return np.pad(out, ((0, 0), (0, 2 - dims))) if dims < 2 else out


def _umap(z: np.ndarray, seed: int) -> np.ndarray:
    import umap  # umap-learn; imported here: it compiles with numba on first use

    neighbours = min(15, len(z) - 1)
    return umap.UMAP(n_neighbors=neighbours, random_state=seed, n_jobs=1) \
        .fit_transform(z).astype(np.float32)
