"""Duplicates and outliers of a version: the same image twice (perhaps with two labels),
and the examples least like any other.

Exact duplicates are examples whose images have the same md5 in the DVC manifest (nothing
is read or trained). Near-duplicates and outliers are found in the model's embedding
space: the backbone's cached embeddings for a head-on-embeddings model, else the input of
the final linear layer of the version's first fold model (one network, so one feature
space), over every example, labelled or not. Two examples are near-duplicates when their
cosine similarity is at least a threshold; an example's outlier score is its mean cosine
distance to its nearest neighbours: high means nothing is like it. (The distance to the
nearest class centroid, before, let a checkerboard among stripes pass as a mix of two
classes once the network trained longer.) Both searches are exact, in blocks: O(N^2 D),
fine for tens of thousands of examples.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ide.errors import InvalidInput, NotTrained
from ide.learn import runs
from ide.learn.train import image_side, network, trains_images
from ide.repo import images, versions
from ide.repo.versions import Version
from ide.repo.workspace import Workspace

NEAR = 0.98  # default cosine similarity at and above which two examples are near-duplicates
NEIGHBOURS = 5  # an outlier's score is its distance to this many nearest examples


def exact(ws: Workspace, version: Version) -> list[dict]:
    """Pairs of examples with the same image content: [{"a", "b", "label_a", "label_b",
    "kind": "exact", "similarity": 1.0}], pairs with two different labels first."""
    files = images.image_files(ws, version)
    groups = defaultdict(list)
    for i in sorted(version.labels):
        if i in files:
            groups[files[i][0]].append(i)
    pairs = [(a, b) for ids in groups.values() for n, a in enumerate(ids) for b in ids[n + 1:]]
    return _rows(version, [(a, b, 1.0, "exact") for a, b in pairs])


def _rows(version: Version, found) -> list[dict]:
    lab = version.labels
    rows = [{"a": a, "b": b, "label_a": lab[a], "label_b": lab[b], "kind": kind,
             "similarity": round(float(s), 4)} for a, b, s, kind in found]
    rows.sort(key=lambda r: (r["label_a"] == r["label_b"], r["kind"] != "exact",
                             -r["similarity"], r["a"], r["b"]))
    return rows


def embeddings(ws: Workspace, version: Version) -> tuple[list[str], np.ndarray]:
    """(ids, (N, D) unit-length embeddings) of every example of VERSION, in the space of its
    model. NotTrained if a network's features are needed and VERSION has no results."""
    params = runs.trained_params(ws, version)
    if not trains_images(params):
        from ide.learn.embeddings import embed_version

        ids, z = embed_version(ws, version, params)
    else:
        ids, z = _network_features(ws, version)
    keep = [n for n, i in enumerate(ids) if i in version.labels]
    ids, z = [ids[n] for n in keep], np.asarray(z, dtype=np.float32)[keep]
    z = z - z.mean(0)
    return ids, z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-8)


def _network_features(ws, version: Version):
    import torch

    from ide.learn import checkpoint

    path = runs.model_file(ws, version)
    if path is None:
        raise NotTrained(f"{version.name} at {version.commit[:10]} has no trained model: run "
                         f"`ide retrain {version.name}`")
    params = runs.trained_params(ws, version)
    ids, x = images.arrays(ws, version, image_side(params))
    net = network(params, len(version.classes), x.shape[1], torch.device("cpu"))
    net.load_state_dict(checkpoint.load_states(path)[0])
    net.eval()
    out = []
    hook = net.head.register_forward_pre_hook(lambda m, inp: out.append(inp[0].detach()))
    with torch.no_grad():
        for b in range(0, len(x), 256):
            net(torch.from_numpy(x[b:b + 256]).float() / 255)
    hook.remove()
    return ids, torch.cat(out).numpy()


def near(ids: list[str], z: np.ndarray, *, threshold: float = NEAR,
         block: int = 1024) -> list[tuple[str, str, float]]:
    """Pairs (a, b, similarity) of unit-length embeddings Z (N, D) with cosine similarity
    at least THRESHOLD, each pair once (a < b in ids order)."""
    found = []
    for start in range(0, len(z), block):
        sims = z[start:start + block] @ z.T
        for r, c in zip(*np.nonzero(sims >= threshold)):
            n = start + r
            if c > n:
                found.append((ids[n], ids[c], float(sims[r, c])))
    return found


def duplicates(ws: Workspace, name: str, *, rev: str = "HEAD", threshold: float = NEAR,
               near_too: bool = True) -> list[dict]:
    """Exact duplicates, then (NEAR_TOO, needs a trained model) near-duplicates that are
    not exact ones, with their labels: pairs with two labels first."""
    if not 0 < threshold <= 1:
        raise InvalidInput(f"--threshold must be in (0, 1], got {threshold}")
    version = versions.resolve(ws, name, rev)
    rows = exact(ws, version)
    if near_too:
        seen = {(r["a"], r["b"]) for r in rows}
        ids, z = embeddings(ws, version)
        rows += _rows(version, [(a, b, s, "near") for a, b, s in
                                near(ids, z, threshold=threshold) if (a, b) not in seen])
        rows.sort(key=lambda r: (r["label_a"] == r["label_b"], r["kind"] != "exact",
                                 -r["similarity"], r["a"], r["b"]))
    return rows


def outlier_scores(z: np.ndarray, *, neighbours: int = NEIGHBOURS,
                   block: int = 1024) -> np.ndarray:
    """(N,) mean cosine distance of each unit-length embedding to its NEIGHBOURS nearest
    others; higher is less like anything in the dataset."""
    k = min(neighbours, len(z) - 1)
    if k < 1:
        return np.zeros(len(z))
    out = np.empty(len(z))
    for start in range(0, len(z), block):
        sims = z[start:start + block] @ z.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf  # itself
        out[start:start + block] = 1 - np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return out


def outliers(ws: Workspace, name: str, *, rev: str = "HEAD", top: int | None = 20) -> list[dict]:
    """The examples least like any other, most unlike first: [{"id", "label", "score"}]
    (score: `outlier_scores`)."""
    version = versions.resolve(ws, name, rev)
    ids, z = embeddings(ws, version)
    score = outlier_scores(z)
    order = np.argsort(-score, kind="stable")
    rows = [{"id": ids[n], "label": version.labels[ids[n]], "score": round(float(score[n]), 4)}
            for n in order]
    return rows[:top] if top else rows
