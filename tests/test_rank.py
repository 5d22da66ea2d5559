"""The pure ranking core: planted label errors rank first, for every method."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ide.learn import rank


def planted(n=500, k=4, errors=25, seed=0):
    """Probabilities of a decent model on clean labels, then some labels flipped."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += rng.uniform(2.5, 5, n)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    given = true.copy()
    flipped = rng.choice(n, errors, replace=False)
    given[flipped] = (true[flipped] + rng.integers(1, k, errors)) % k
    return given, probs, set(flipped.tolist())


DATA = planted()


@pytest.mark.parametrize("method", sorted(rank.METHODS))
def test_planted_errors_rank_first(method):
    given, probs, flipped = DATA
    top = set(rank.review_order(given, probs, method=method)[:len(flipped)].tolist())
    assert len(top & flipped) / len(flipped) >= 0.9


@pytest.mark.parametrize("method", sorted(rank.METHODS))
def test_lower_score_means_more_suspicious(method):
    probs = np.array([[0.9, 0.1], [0.1, 0.9]])
    score = rank.label_quality(np.array([0, 0]), probs, method=method)
    assert score[1] < score[0]


def systematic(n=2000, k=4, seed=0, *, learned=False):
    """Class-conditional noise, as annotators make it: a fifth of class 0 given label 1, and
    a model that, trained on those labels, half-learned to say 1 for a 0; or (LEARNED) fully
    learned it: every 0 gets a fifth of a 1, flipped or not, as a CNN does on 10,000
    digits."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += rng.uniform(1.5, 5, n)
    if not learned:
        logits[true == 0, 1] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    zeros = np.flatnonzero(true == 0)
    if learned:
        probs[zeros] = 0.8 * probs[zeros] + 0.2 * np.eye(k)[1]
    given = true.copy()
    flipped = rng.choice(zeros, len(zeros) // 5, replace=False)
    given[flipped] = 1
    return given, probs, set(flipped.tolist())


def found_by(given, probs, flipped) -> dict:
    """Precision@k of the posterior, self-confidence and confident learning."""
    return {m: len(set(rank.review_order(given, probs, method=m)[:len(flipped)].tolist())
                   & flipped) / len(flipped)
            for m in ("posterior", "self_confidence", "confident_learning")}


def test_the_posterior_finds_systematic_flips_that_self_confidence_misses():
    found = found_by(*systematic())
    assert found["posterior"] >= found["self_confidence"] + 0.1
    assert found["posterior"] >= found["confident_learning"] + 0.05


def test_a_habit_the_model_has_learned_is_still_found():
    # The probabilities alone explain the flips (each 0 has a fifth of a 1), so a posterior
    # that takes them as the chance of each true class finds no habit: self-confidence's
    # 0.46. With part of the learned noise taken out of them it finds the habit (0.91).
    found = found_by(*systematic(4000, learned=True))
    assert found["posterior"] >= found["self_confidence"] + 0.3
    assert found["posterior"] >= found["confident_learning"] + 0.03


def test_the_noise_matrix_names_the_confused_pair():
    given, probs, _ = systematic()
    t = rank.noise_matrix(given, probs, shrink=0)
    assert np.allclose(t.sum(axis=0), 1)
    off = t - np.diag(np.diag(t))
    assert np.unravel_index(off.argmax(), t.shape) == (1, 0)  # given 1, truly 0
    assert 0.12 <= t[1, 0] <= 0.28  # a fifth of the zeros
    even = rank.noise_matrix(given, probs, shrink=1)  # the same rate, spread evenly
    assert np.isclose(np.diag(even).mean(), np.diag(t).mean())
    assert np.allclose(even - np.diag(np.diag(even)), off.sum() / (4 * 3) * (1 - np.eye(4)))


def test_held_out_labels_choose_how_far_to_trust_the_noise_matrix():
    # Uniform flips: no pair of classes is confused more in one half than chance says,
    # so the matrix is spread evenly and the order is self-confidence's, tie for tie.
    given, probs, _ = DATA
    assert rank.noise_matrix(given, probs).round(12).tolist() == \
        rank.noise_matrix(given, probs, shrink=1).round(12).tolist()
    assert (rank.review_order(given, probs) ==
            rank.review_order(given, probs, method="self_confidence")).all()
    # A habit of annotators recurs in the other half: the fitted matrix is kept.
    given, probs, _ = systematic()
    t = rank.noise_matrix(given, probs)
    assert t[1, 0] >= 0.8 * rank.noise_matrix(given, probs, shrink=0)[1, 0]


@pytest.mark.parametrize("n", [0, 1, 3])
def test_the_posterior_of_a_handful_of_examples_is_self_confidence(n):
    probs = np.random.default_rng(0).dirichlet(np.ones(5), n)
    given = np.arange(n) % 5
    assert (rank.review_order(given, probs) ==
            rank.review_order(given, probs, method="self_confidence")).all()


def test_confident_learning_filter_finds_the_planted_errors():
    given, probs, flipped = DATA
    found = set(np.flatnonzero(rank.find_label_issues(given, probs)).tolist())
    assert len(found & flipped) / len(found) >= 0.8  # precision
    assert len(found & flipped) / len(flipped) >= 0.8  # recall


def test_per_class_thresholds_are_mean_self_confidence():
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    assert np.allclose(rank.per_class_thresholds([0, 0, 1], probs), [0.7, 0.7])


def test_per_example_loss_equals_torch_cross_entropy():
    logits = torch.randn(64, 7, generator=torch.Generator().manual_seed(0)) * 3
    y = torch.randint(0, 7, (64,), generator=torch.Generator().manual_seed(1))
    probs = torch.softmax(logits.double(), 1).numpy()
    expected = F.cross_entropy(logits.double(), y, reduction="none").numpy()
    assert np.allclose(rank.per_example_loss(y.numpy(), probs), expected, atol=1e-10)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="self_confidence"):
        rank.label_quality([0], [[1.0, 0.0]], method="nope")
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        rank.label_quality([0, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match="in \\[0, K\\)"):
        rank.review_order([2], [[0.5, 0.5]])


def test_suspects_metrics_and_confusion_agree():
    given, probs, flipped = DATA
    mask = rank.is_suspect(given, probs)
    checked = np.zeros(len(given), dtype=bool)
    checked[np.flatnonzero(mask)[:3]] = True
    assert (rank.is_suspect(given, probs, checked=checked) == (mask & ~checked)).all()
    m = rank.metrics(given, probs, ["a", "b", "c", "d"], checked=checked)
    assert m["suspects"] == mask.sum() - 3 and m["examples"] == len(given)
    counts = rank.confusion(given, probs)
    assert counts.sum() == len(given)
    assert m["accuracy"] == np.trace(counts) / len(given)
    assert (rank.predicted(probs) == probs.argmax(1)).all()


def test_the_filter_is_cleanlabs_prune_by_noise_rate():
    """`find_label_issues` flags exactly what cleanlab's does (where cleanlab is installed:
    `pip install -e .[bench]`), on uniform and on class-conditional noise."""
    cleanlab = pytest.importorskip("cleanlab.filter")
    rng = np.random.default_rng(0)
    for concentration, n, k in [(0.3, 400, 4), (1.0, 1000, 10), (0.1, 50, 3)]:
        probs = rng.dirichlet(np.ones(k) * concentration, n)
        given = probs.argmax(1)
        picked = rng.choice(n, n // 10, replace=False)
        given[picked] = (given[picked] + (1 if concentration < 1 else
                                          rng.integers(1, k, len(picked)))) % k
        assert (rank.find_label_issues(given, probs) ==
                cleanlab.find_label_issues(given, probs)).all()


def test_confident_learning_puts_the_filters_issues_first():
    given, probs, flipped = DATA
    order = rank.review_order(given, probs, method="confident_learning")
    issues = rank.find_label_issues(given, probs)
    n = issues.sum()
    assert issues[order[:n]].all() and not issues[order[n:]].any()
    score = rank.label_quality(given, probs, method="confident_learning")
    assert (np.diff(score[order[:n]]) >= 0).all()  # each group by self-confidence
