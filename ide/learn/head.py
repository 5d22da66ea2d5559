"""A K-fold head over a backbone's embeddings: multinomial logistic regression, arrays in
and out, with `ide.learn.train.fit`'s and `predict`'s contracts, so `cross_validate`
trains either. Embeddings are standardised over all examples first (`standardise`).
"""

from __future__ import annotations

import time

import numpy as np

from ide.data.params import Params


def standardise(z: np.ndarray) -> np.ndarray:
    """Embeddings scaled per dimension over all examples; no label is used, so the held-out
    folds may take part."""
    return ((z - z.mean(0)) / (z.std(0) + 1e-6)).astype(np.float32)


def fit_head(z: np.ndarray, y: np.ndarray, classes: int, params: Params, *, state=None,
             device: str = "cpu", on_step=None, **_) -> dict:
    """Multinomial logistic regression on (N, D) standardised embeddings: full-batch L-BFGS,
    an L2 penalty of PARAMS.decay; seconds for 10,000 examples. STATE: a head to start from.
    ON_STEP is called once, when it is done, as `fit` calls it (one epoch). The other
    arguments of `fit` (seed, epochs, lr, min_steps) do not apply to it."""
    import torch
    import torch.nn.functional as F

    from ide.learn.train import torch_device  # train imports this module

    dev = torch_device(device)
    zt = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)).to(dev)
    yt = torch.from_numpy(y.astype(np.int64)).to(dev)
    w = torch.zeros(z.shape[1], classes, device=dev)
    b = torch.zeros(classes, device=dev)
    if state is not None:
        w, b = state["w"].to(dev).clone(), state["b"].to(dev).clone()
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=200, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(zt @ w + b, yt) + params.decay * (w * w).sum()
        loss.backward()
        return loss
    start = time.time()
    opt.step(closure)
    if on_step:
        on_step(1, 1, 1.0, len(z) / max(time.time() - start, 1e-6))
    return {"w": w.detach().cpu(), "b": b.detach().cpu()}


def predict_head(states: list[dict], z: np.ndarray, classes: int, params: Params,
                 device: str = "cpu") -> np.ndarray:
    """(N, K) probabilities averaged over the heads in STATES."""
    import torch

    zt = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
    total = sum(torch.softmax(zt @ s["w"] + s["b"], 1).double().numpy() for s in states)
    return (total / len(states)).astype(np.float32)
