"""Suspicion scores, suspects and metrics from out-of-sample probabilities: pure numpy, no
model, no IO. Everything the IDE says about probabilities is defined here, once.

The functions take `labels`, an (N,) integer array of given labels in [0, K), and
`pred_probs`, an (N, K) array of out-of-fold predicted probabilities (rows sum to 1);
`predicted` takes the probabilities only. Label quality scores are in [0, 1] for the
posterior and self-confidence, [-1, 1] for the margin: lower means more likely mislabelled.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def _check(labels, pred_probs) -> tuple[np.ndarray, np.ndarray]:
    labels, pred_probs = np.asarray(labels), np.asarray(pred_probs, dtype=np.float64)
    if pred_probs.ndim != 2 or labels.shape != (len(pred_probs),):
        raise ValueError(f"need labels (N,) and pred_probs (N, K); got {labels.shape} "
                         f"and {pred_probs.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= pred_probs.shape[1]):
        raise ValueError("labels must be integers in [0, K)")
    return labels.astype(np.int64), pred_probs


def _self_confidence(labels, probs):
    return probs[np.arange(len(labels)), labels]


def _normalized_margin(labels, probs):
    given = probs[np.arange(len(labels)), labels]
    others = probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return given - others.max(axis=1)


def _adjusted_self_confidence(labels, probs):
    # cleanlab's `adjust_pred_probs`: each class's threshold subtracted, so that a class the
    # model is generally unsure of does not look suspicious by that alone.
    thresholds = per_class_thresholds(labels, probs)
    adjusted = probs - thresholds[None, :] + thresholds.max()  # >= 0
    adjusted /= np.clip(adjusted.sum(axis=1, keepdims=True), EPS, None)
    return _self_confidence(labels, adjusted)


def _confident_learning(labels, probs):
    # Self-confidence, less 1 for the examples the confident-learning filter flags: they come
    # first, in order of self-confidence, then every other example in that order.
    return _self_confidence(labels, probs) - find_label_issues(labels, probs)


def _posterior(labels, probs):
    # P(the given label is the true class | the image, the given label): the prior over true
    # classes (`_noise_model`) times the chance of each true class being given this label.
    prior, t = _noise_model(labels, probs)
    joint = prior * t[labels]  # (N, K): p(true j) P(given y | j)
    return joint[np.arange(len(labels)), labels] / np.clip(joint.sum(axis=1), EPS, None)


METHODS = {
    "posterior": _posterior,
    "self_confidence": _self_confidence,
    "normalized_margin": _normalized_margin,
    "adjusted_self_confidence": _adjusted_self_confidence,
    "confident_learning": _confident_learning,
}
DEFAULT_METHOD = "posterior"  # chosen by bench/noise.py; see the README


def label_quality(labels, pred_probs, *, method: str = DEFAULT_METHOD) -> np.ndarray:
    """(N,) label quality scores: lower means more likely mislabelled."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method](*_check(labels, pred_probs))


def per_example_loss(labels, pred_probs) -> np.ndarray:
    """(N,) cross-entropy of each given label under its out-of-fold prediction."""
    labels, probs = _check(labels, pred_probs)
    return -np.log(np.clip(_self_confidence(labels, probs), EPS, None))


def per_class_thresholds(labels, pred_probs) -> np.ndarray:
    """(K,) mean predicted probability of class j over the examples labelled j."""
    labels, probs = _check(labels, pred_probs)
    k = probs.shape[1]
    return np.array([probs[labels == j, j].mean() if (labels == j).any() else 1.0
                     for j in range(k)])


def confident_joint(labels, pred_probs) -> np.ndarray:
    """(K, K) calibrated confident joint: counts of (given label, confident true class).

    An example is confidently of class j when p_j reaches class j's threshold (its mean
    self-confidence, `per_class_thresholds`); of its most probable class when several do.
    The diagonal counts at least 1; each row is then scaled to its class's count of given
    labels, the whole to N, and rounded so that rows keep their totals (confident learning,
    Northcutt et al. 2021, as cleanlab 2.x computes it).
    """
    labels, probs = _check(labels, pred_probs)
    k = probs.shape[1]
    above = probs >= per_class_thresholds(labels, probs)[None, :] - 1e-6
    many = above.sum(axis=1)
    guess = np.where(many > 1, probs.argmax(axis=1), above.argmax(axis=1))
    some = many > 0
    joint = np.bincount(labels[some] * k + guess[some], minlength=k * k).reshape(k, k)
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    counts = np.bincount(labels, minlength=k)
    scaled = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1e-6) * counts[:, None]
    scaled = scaled / max(scaled.sum(), 1e-6) * len(labels)
    return _round_keeping_rows(scaled)


def noise_matrix(labels, pred_probs, *, shrink: float | None = None) -> np.ndarray:
    """(K, K) T[i, j]: the estimated probability that an example of true class j is given
    label i (each column sums to 1).

    The matrix that best explains the given labels (`_fit_noise`), moved SHRINK of the way
    to one with the same noise rate spread evenly over the other classes. By default SHRINK
    is the one of 0, 0.1, ..., 1 whose matrix best predicts labels it was not fitted on:
    the examples are split in two by position, each half's labels scored by the matrix
    fitted on the other; 1 unless a mixture gains EVIDENCE nats over it. The fitted matrix
    also holds the model's own confusions of similar classes (pullover and coat), which are
    not label noise and predict the other half no better than an even spread, while
    annotators' habits do: on uniform flips this picks 1 (the order of self-confidence), on
    class-conditional flips 0 to 0.3 (bench/noise.py's 72 trainings). The split uses the
    probabilities with part of the model's learned noise taken out, and so does the fit
    where the labels show a habit (`_noise_model`).
    """
    labels, probs = _check(labels, pred_probs)
    if shrink is None:
        return _noise_model(labels, probs)[1]
    return _shrunk(_fit_noise(labels, probs), shrink)


def _noise_model(labels, probs) -> tuple[np.ndarray, np.ndarray]:
    # The prior over true classes and the noise matrix, as the posterior uses them. A model
    # trained on labels with a habit learns the habit: on 10,000 digits with a fifth of each
    # class flipped to one other, every 1 is given about 0.2 of a 7. Taken as the chance
    # that the image is a 7, that mass explains the flips by itself: the fitted matrix says
    # no 1 is ever labelled 7, and each 1 labelled 7 looks right (precision 0.85-0.96 there,
    # below cleanlab's filter; 0.98-0.995 with this). So the prior is the probabilities with
    # part of the model's learned noise taken out (`_unlearn`), unless the held-out labels
    # show no habit: then the noise is even and the order self-confidence's.
    unlearned = _unlearn(probs)
    shrink = _held_out_shrink(labels, unlearned)
    prior = probs if shrink == 1 else unlearned
    return prior, _shrunk(_fit_noise(labels, prior), shrink)


SHRINKS = np.linspace(0, 1, 11)
PSEUDO = 10  # imaginary examples a class in the noise matrix's fit (`_fit_noise`)
# Nats of held-out log-likelihood a fitted matrix must gain over the even one to be used: on
# bench/noise.py's 36 runs of uniform flips the gain was at most 2.9 (mostly 0), on its 36
# of class-conditional flips at least 16.7 (14.9 before `_unlearn`); a likelihood ratio of
# e^3 = 20 is strong evidence.
EVIDENCE = 3.0


def _held_out_shrink(labels, probs) -> float:
    halves = np.arange(len(labels)) % 2 == 0
    loglik = np.zeros(len(SHRINKS))
    for fit in (halves, ~halves):
        t = _fit_noise(labels[fit], probs[fit])
        y, p = labels[~fit], probs[~fit]
        for i, s in enumerate(SHRINKS):
            given = (p * _shrunk(t, s)[y]).sum(axis=1)  # P(the given label | x)
            loglik[i] += np.log(np.clip(given, EPS, None)).sum()
    if loglik.max() - loglik[-1] < EVIDENCE:
        return 1.0  # no habit the labels show beyond chance: self-confidence's order
    return float(SHRINKS[np.argmax(loglik)])


def _shrunk(t: np.ndarray, shrink: float) -> np.ndarray:
    k = len(t)
    rate = 1 - np.diag(t).mean()
    even = np.full((k, k), rate / max(k - 1, 1))
    np.fill_diagonal(even, 1 - rate)
    return (1 - shrink) * t + shrink * even


def _fit_noise(labels, probs, iters: int = 100) -> np.ndarray:
    # Expectation-maximisation of the given labels' likelihood, sum_j p_j(x) T[y, j], with
    # each example's out-of-fold probabilities p(x) as its prior over true classes. Each
    # class also counts PSEUDO imaginary examples whose labels are spread as even noise:
    # with tens of examples a class, a fitted column is mostly sampling noise (subsets of 300
    # of bench/noise.py's digits, 20% class-conditional flips: precision 0.81 without, 0.90).
    k = probs.shape[1]
    order = np.argsort(labels, kind="stable")  # sorted once, each label's rows summed fast
    labels, probs = labels[order], probs[order]
    sizes = np.bincount(labels, minlength=k)
    given = np.flatnonzero(sizes)
    starts = np.cumsum(sizes)[given] - sizes[given]
    t = np.full((k, k), 0.1 / max(k - 1, 1))
    np.fill_diagonal(t, 0.9)
    for _ in range(iters):
        resp = probs * t[labels]
        resp /= np.clip(resp.sum(axis=1, keepdims=True), EPS, None)  # P(true j | x, y)
        counts = PSEUDO * _shrunk(t, 1.0)
        if len(given):
            counts[given] += np.add.reduceat(resp, starts)
        new = counts / counts.sum(axis=0, keepdims=True)
        done = np.abs(new - t).max() < 1e-7
        t = new
        if done:
            break
    return t


# How much of the model's learned noise `_unlearn` takes out, and a class's anchors: the
# images predicted it whose probability of it is in the top tenth. Chosen on bench/noise.py's
# 72 trainings and five of 10,000 digits at 20% class-conditional flips: 0.25 and 0.5 tied
# in the worst cell against the targets; 0.25 had the better mean.
UNLEARN = 0.25
ANCHORS = 0.9


def _unlearn(probs, iters: int = 10) -> np.ndarray:
    # (N, K) each row q: the prior over true classes that, mixed through A, best explains
    # the model's probabilities p as A q, where A is UNLEARN of the learned noise and the
    # rest the identity. q maximises sum_k p_k log (A q)_k on the simplex, by expectation-
    # maximisation (10 steps rank bench/noise.py's runs as 50 do).
    k = probs.shape[1]
    mix = (1 - UNLEARN) * np.eye(k) + UNLEARN * _learned_noise(probs)
    q = probs
    for _ in range(iters):
        q = q * ((probs / np.clip(q @ mix.T, EPS, None)) @ mix)
        q /= np.clip(q.sum(axis=1, keepdims=True), EPS, None)
    return q


def _learned_noise(probs) -> np.ndarray:
    # (K, K) column j: the mean probabilities of class j's anchors, the images the model is
    # surest are j. What they give other classes is noise the model has learned (the fifth
    # of a 7 in every 1 of `_noise_model`) or a confusion it cannot resolve (a shirt among
    # T-shirts), which is why only UNLEARN of it is taken out. A class with under 5 images
    # predicted keeps the identity's column.
    k = probs.shape[1]
    predicted = probs.argmax(axis=1)
    learned = np.eye(k)
    for j in range(k):
        mine = probs[predicted == j]
        if len(mine) >= 5:
            sure = mine[:, j] >= np.quantile(mine[:, j], ANCHORS)
            learned[:, j] = mine[sure].mean(axis=0)
    return learned / learned.sum(axis=0, keepdims=True)


def _round_keeping_rows(m: np.ndarray) -> np.ndarray:
    """M rounded to integers whose row sums equal M's rounded row sums: each row rounded,
    then the entries rounded furthest from their value moved by one (cleanlab's
    `round_preserving_row_totals`, tie for tie)."""
    out = np.round(m)
    for r, row in enumerate(m):
        while abs(out[r].sum().round() - row.sum().round()) > 1e-6:
            diff = np.round(row.sum().round() - out[r].sum().round())
            step = -1 if diff < 0 else 1
            changes = min(int(abs(diff)), len(row))
            out[r, np.argsort(row - out[r])[::-step][:changes]] += step
    return out.astype(np.int64)


def find_label_issues(labels, pred_probs) -> np.ndarray:
    """(N,) bool: the confident-learning filter (`prune_by_noise_rate`, as cleanlab's).

    For each given class k and other class j, the confident joint estimates how many
    examples labelled k are truly j; that many examples labelled k with the largest margin
    p_j - p_k are flagged (leaving at least one example of each class). An example whose
    predicted class is its given label is never flagged.
    """
    labels, probs = _check(labels, pred_probs)
    joint = confident_joint(labels, probs)
    flagged = np.zeros(len(labels), dtype=bool)
    for k in range(probs.shape[1]):
        mine = np.flatnonzero(labels == k)
        if len(mine) <= 1:
            continue
        wanted = joint[k].copy()
        wanted[k] = 0
        room = len(mine) - 1  # keep at least one example of the class
        if wanted.sum() > room:  # scale down, as cleanlab's _keep_at_least_n_per_class
            wanted = np.floor(wanted * room / wanted.sum()).astype(np.int64)
        for j in np.flatnonzero(wanted):
            margin = probs[mine, j] - probs[mine, k]
            flagged[mine[np.argsort(-margin, kind="stable")[:wanted[j]]]] = True
    return flagged & (probs.argmax(axis=1) != labels)


def review_order(labels, pred_probs, *, method: str = DEFAULT_METHOD,
                 checked=None) -> np.ndarray:
    """(N,) indices, most suspicious first (stable for ties); examples a reviewer CHECKED
    ((N,) bool) as right go last."""
    return order(label_quality(labels, pred_probs, method=method), checked)


def order(score, checked=None) -> np.ndarray:
    """(N,) indices by SCORE, lowest first (stable for ties); CHECKED examples go last."""
    checked = np.zeros(len(score), dtype=bool) if checked is None else np.asarray(checked, bool)
    return np.lexsort((score, checked))  # stable: ties keep their order


def predicted(pred_probs) -> np.ndarray:
    """(N,) the class each example is predicted to be (the most probable)."""
    return np.asarray(pred_probs).argmax(axis=1)


def top_classes(pred_probs, k: int) -> np.ndarray:
    """(N, min(k, K)) the K most probable classes of each example, the most probable
    first (ties: the lower class first)."""
    return np.argsort(-np.asarray(pred_probs), axis=1, kind="stable")[:, :k]


def margin(pred_probs) -> np.ndarray:
    """(N,) the top probability minus the second (the top alone with one class): a small
    margin is an example the model hesitates on."""
    probs = np.sort(np.asarray(pred_probs), axis=1)
    return probs[:, -1] - (probs[:, -2] if probs.shape[1] > 1 else 0)


def is_suspect(labels, pred_probs, *, checked=None) -> np.ndarray:
    """(N,) bool: the suspected label errors, i.e. the confident-learning filter's issues,
    except the examples a reviewer CHECKED ((N,) bool) as right."""
    issues = find_label_issues(labels, pred_probs)
    return issues if checked is None else issues & ~np.asarray(checked, dtype=bool)


def confusion(labels, pred_probs) -> np.ndarray:
    """(K, K) counts: rows the given label, columns the predicted class."""
    labels, probs = _check(labels, pred_probs)
    k = probs.shape[1]
    return np.bincount(labels * k + predicted(probs), minlength=k * k).reshape(k, k)


def metrics(labels, pred_probs, classes: list[str], *, checked=None) -> dict:
    """Metrics of out-of-fold probabilities: accuracy, mean loss, examples, suspects (see
    `is_suspect`) and per-class accuracy ({class: accuracy, None where it has no examples})."""
    labels, probs = _check(labels, pred_probs)
    pred = predicted(probs)
    per_class = {c: float((pred[labels == j] == j).mean()) if (labels == j).any() else None
                 for j, c in enumerate(classes)}
    return {"accuracy": float((pred == labels).mean()),
            "mean_loss": float(per_example_loss(labels, probs).mean()),
            "examples": int(len(labels)),
            "suspects": int(is_suspect(labels, probs, checked=checked).sum()),
            "per_class_accuracy": per_class}
