"""``select``: a strategy is a utility measure plus a batch selector.

Concrete strategies (:data:`STRATEGIES`):

- ``random``: the control, :func:`~data_labeling_pipeline.active.selectors.random_k`;
- ``margin``, ``least_confidence``, ``entropy``: that uncertainty, then :func:`top_k`;
- ``vote_entropy`` (ties broken by the committee's mean entropy), ``kl_disagreement``: a
  committee measure over ``committee_probabilities``, then :func:`top_k`;
- ``kcenter``, ``kmeans_pp``: diversity over ``embeddings``, counting ``labeled_embeddings``;
- ``hybrid``: the ``prefilter_factor x k`` most uncertain rows, then uncertainty-weighted
  k-means, one pick per cluster (the most uncertain);
- ``typiclust``: the most typical row of each uncovered k-means cluster of the pool
  (:mod:`~data_labeling_pipeline.active.typiclust`), a cold start that ignores the model;
- ``badge``: k-means++ seeding over ``(p - onehot(argmax p)) outer embeddings``
  (:mod:`~data_labeling_pipeline.active.badge`).

The names of ``active_learning.strategy`` in ``params.yaml`` (``uncertainty``, ``committee``,
``diversity``, and ``auto``) map to these by :func:`resolve_strategy`; ``select`` accepts them
too. Measured by ``benchmarks/active_learning.py`` (digits, 10 classes; tweets, 2 classes):
margin is the best single measure (least confidence and entropy fall behind on 10 classes and
equal it on 2); hybrid matches margin up to ~1% of the pool per batch and beats it above, so
``auto`` switches there; KL disagreement is worse than random on digits, and k-center and
k-means++ are no better than random on the tweets.

The cold start (10 seeds; batches of 10, 2% and 5% of the pool; 20 random seed labels): a
first 2% or 5% batch chosen by margin or hybrid on the tweets' 20-label model is 9 to 25
accuracy points below a random batch, and a 2% hybrid batch after 149 typiclust labels still
9 below. Typiclust's first batches there are within 0.4 points of random, but typiclust
alone saves little later (-8% to 42% of the labels to 95%) and is 4.5 points below random
at 60 labels on the tweets in batches of 10; badge is never significantly below random but
saves less than hybrid in every measured cell. So ``auto`` with the signal (``n_labeled``)
takes typiclust while fewer than 5 labels per class or 2 batches are labelled, then margin
or hybrid as before: no point of its curve is significantly below random on either data
set at any of the three batch sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.active import utility
from data_labeling_pipeline.active._checks import (
    as_committee,
    as_embeddings,
    as_probabilities,
    available_mask,
    bad,
    check_k,
    float32_finite,
)
from data_labeling_pipeline.active.badge import badge_pick
from data_labeling_pipeline.active.diversity import kcenter_greedy, kmeans_pp
from data_labeling_pipeline.active.hybrid import weighted_kmeans_pick
from data_labeling_pipeline.active.selectors import random_k, top_k
from data_labeling_pipeline.active.typiclust import typiclust_pick

STRATEGIES = (
    "random",
    "margin",
    "least_confidence",
    "entropy",
    "vote_entropy",
    "kl_disagreement",
    "kcenter",
    "kmeans_pp",
    "hybrid",
    "typiclust",
    "badge",
)
# params.yaml names that stand for a concrete strategy
FAMILIES = ("uncertainty", "committee", "diversity", "auto")
DIVERSITY_METHODS = ("kcenter", "kmeans_pp")
NEEDS_EMBEDDINGS = ("kcenter", "kmeans_pp", "hybrid", "typiclust", "badge")
# batches above this share of the pool go to hybrid under "auto": larger batches of pure margin
# pick near-duplicates (measured on digits)
HYBRID_ABOVE = 0.01
PREFILTER_FACTOR = 10
# auto with the signal (n_labeled, n_classes): typiclust while fewer than COLD_START_PER_CLASS
# labels per class or COLD_START_BATCHES batches, then margin, or WARM_LARGE for batches above
# HYBRID_ABOVE of the pool
COLD_START_PER_CLASS = 5
COLD_START_BATCHES = 2.0
WARM_LARGE = "hybrid"
SCORE_KEYS = ("uncertainty", "score", "cluster", "distance")


def resolve_strategy(
    name: str,
    *,
    k: int,
    pool_size: int,
    uncertainty_measure: str = "margin",
    committee_measure: str = "vote_entropy",
    diversity_method: str = "kcenter",
    hybrid_above: float = HYBRID_ABOVE,
    n_labeled: int | None = None,
    n_classes: int | None = None,
    cold_start_per_class: int = COLD_START_PER_CLASS,
    cold_start_batches: float = COLD_START_BATCHES,
) -> str:
    """The concrete strategy behind a params name.

    ``uncertainty`` is ``uncertainty_measure`` (margin by default); ``committee`` is
    ``committee_measure``; ``diversity`` is ``diversity_method``; ``auto`` is ``margin`` for a
    batch of at most ``hybrid_above x pool_size`` and ``hybrid`` above. Given the cold-start
    signal (``n_labeled`` and ``n_classes``, both or neither), ``auto`` is first ``typiclust``
    while ``n_labeled < max(cold_start_per_class x n_classes, cold_start_batches x k)``: a weak
    model of a few labels per class, or one asked to rank a batch about as large as all it has
    seen, picks worse than random (measured: see the module docstring). A concrete name maps
    to itself.

    Example:
        >>> resolve_strategy("uncertainty", k=50, pool_size=1000)
        'margin'
        >>> resolve_strategy("auto", k=10, pool_size=1000), resolve_strategy("auto", k=50, pool_size=1000)
        ('margin', 'hybrid')
        >>> resolve_strategy("auto", k=10, pool_size=1000, n_labeled=20, n_classes=10)
        'typiclust'
    """
    choices = {
        "uncertainty_measure": (uncertainty_measure, utility.UNCERTAINTY_MEASURES),
        "committee_measure": (committee_measure, utility.COMMITTEE_MEASURES),
        "diversity_method": (diversity_method, DIVERSITY_METHODS),
    }
    for field, (value, allowed) in choices.items():
        if value not in allowed:
            raise bad(field, f"expected one of {list(allowed)}, got {value!r}")
    if name in STRATEGIES:
        return name
    if name == "uncertainty":
        return uncertainty_measure
    if name == "committee":
        return committee_measure
    if name == "diversity":
        return diversity_method
    if name == "auto":
        if n_labeled is not None or n_classes is not None:
            return _auto_by_signal(
                k, pool_size, n_labeled, n_classes, cold_start_per_class, cold_start_batches, hybrid_above
            )
        return "hybrid" if k > hybrid_above * pool_size else "margin"
    raise bad("strategy", f"expected one of {list(FAMILIES + STRATEGIES)}, got {name!r}")


def _auto_by_signal(
    k: int,
    pool_size: int,
    n_labeled: int | None,
    n_classes: int | None,
    per_class: int,
    batches: float,
    hybrid_above: float,
) -> str:
    for field, value in (("n_labeled", n_labeled), ("n_classes", n_classes)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise bad(field, f"expected a whole number >= 0 (auto needs both n_labeled and n_classes), got {value!r}")
    # cold: too few labels per class, or fewer labels than two batches: a model that ranks a
    # batch as large as all it has seen picks worse than random (tweets, 2% batches: hybrid
    # 23 points below random after 20 labels, and 9 below after 149 typiclust labels)
    if n_labeled < max(per_class * max(1, n_classes), batches * k):
        return "typiclust"
    return WARM_LARGE if k > hybrid_above * pool_size else "margin"


def select(
    probabilities: Any,
    k: int,
    *,
    strategy: str = "margin",
    embeddings: Any = None,
    labeled_embeddings: Any = None,
    committee_probabilities: Any = None,
    seed: int = 0,
    exclude: Any = None,
    uncertainty_measure: str = "margin",
    prefilter_factor: int = PREFILTER_FACTOR,
    n_labeled: int | None = None,
    return_scores: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pick ``k`` rows to label next, most useful first.

    Args:
        probabilities: ``(n, n_classes)`` predicted probabilities of the pool, rows sorted by
            item id (ties go to the lower row, so to the lower item id).
        k: Batch size (0 <= k <= selectable rows).
        strategy: A concrete name of :data:`STRATEGIES` or a params name of :data:`FAMILIES`
            (resolved by :func:`resolve_strategy` with ``pool_size`` = selectable rows).
        embeddings: ``(n, dim)`` for ``kcenter``, ``kmeans_pp``, ``hybrid``, ``typiclust`` and
            ``badge`` (the features of the model behind ``probabilities``, for badge). Float32 avoids a
            copy; hybrid reads only its candidates' rows.
        labeled_embeddings: ``(m, dim)`` already-labelled items, counted by ``kcenter`` and
            ``kmeans_pp`` (distance to them) and ``typiclust`` (the clusters they cover).
            Ignored by the other strategies.
        committee_probabilities: ``(n_members, n, n_classes)`` for the committee measures
            (:func:`~data_labeling_pipeline.active.committee.bootstrap_committee`).
        seed: Seed of the random parts (random, first k-center pick, k-means++).
        exclude: Rows never selected (already labelled, held): a boolean mask or row indices.
        uncertainty_measure: The measure behind ``uncertainty`` and hybrid's prefilter/weights.
        prefilter_factor: Hybrid keeps the ``prefilter_factor x k`` most uncertain rows.
        n_labeled: How many items are labelled: the cold-start signal of ``auto`` (with the
            number of classes, ``probabilities.shape[1]``); ``None`` keeps ``auto`` on the batch
            size alone.
        return_scores: Also return the score parts of each selected row, for the queue records.

    Returns:
        ``int64`` array of ``k`` unique row indices in priority order. With ``return_scores``,
        ``(indices, scores)`` where ``scores`` maps each of :data:`SCORE_KEYS` to a length-k
        array aligned with ``indices``: ``uncertainty`` (``uncertainty_measure`` of the row,
        for every strategy), ``score`` (what the strategy ranked by: the utility, hybrid's
        uncertainty, the diversity distance; NaN for random), ``cluster`` (hybrid's k-means
        cluster, -1 otherwise), ``distance`` (diversity: distance to the nearest labelled or
        earlier pick at the time of the pick, ``inf`` for a first pick with nothing labelled;
        NaN otherwise).

    Example:
        >>> p = [[0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.55, 0.45]]
        >>> select(p, 2).tolist()
        [1, 3]
        >>> select(p, 2, exclude=[1]).tolist()
        [3, 2]
    """
    p = as_probabilities(probabilities)
    n = len(p)
    avail = available_mask(exclude, n)
    n_avail = n if avail is None else int(avail.sum())
    k = check_k(k, n_avail)
    concrete = resolve_strategy(
        strategy,
        k=k,
        pool_size=n_avail,
        uncertainty_measure=uncertainty_measure,
        n_labeled=n_labeled,
        n_classes=None if n_labeled is None else p.shape[1],
    )
    if isinstance(prefilter_factor, bool) or not isinstance(prefilter_factor, int | np.integer) or prefilter_factor < 1:
        raise bad("prefilter_factor", f"expected an integer >= 1, got {prefilter_factor!r}")
    if concrete in NEEDS_EMBEDDINGS and embeddings is None:
        raise bad("embeddings", f"strategy {concrete!r} needs an (n_items, dim) array of embeddings, got None")
    emb = None if embeddings is None else as_embeddings(embeddings, n=n)
    unc = utility.checked_uncertainty(p, measure=uncertainty_measure)
    excl = None if avail is None else ~avail
    score = np.full(n, np.nan)
    distance = np.full(k, np.nan)
    cluster = np.full(k, -1, dtype=np.int64)

    if concrete == "random":
        picks = random_k(n, k, exclude=excl, seed=seed)
    elif concrete in utility.UNCERTAINTY_MEASURES:
        score = unc if concrete == uncertainty_measure else utility.checked_uncertainty(p, measure=concrete)
        picks = top_k(score, k, exclude=excl)
    elif concrete in utility.COMMITTEE_MEASURES:
        c = as_committee(committee_probabilities, n=n, n_classes=p.shape[1])
        if concrete == "vote_entropy":
            score = utility.vote_entropy(c)
            picks = top_k(score, k, secondary=utility.consensus_entropy(c), exclude=excl)
        else:
            score = utility.kl_disagreement(c)
            picks = top_k(score, k, exclude=excl)
    elif concrete in DIVERSITY_METHODS:
        pick = kcenter_greedy if concrete == "kcenter" else kmeans_pp
        picks, distance = pick(
            emb, k, labeled_embeddings=labeled_embeddings, exclude=excl, seed=seed, return_distances=True
        )
    elif concrete == "typiclust":
        picks, score_k, cluster = typiclust_pick(
            emb, k, labeled_embeddings=labeled_embeddings, exclude=excl, seed=seed, return_scores=True
        )
        score[picks] = score_k
    elif concrete == "badge":
        picks, score_k, distance = badge_pick(
            p, emb, k, exclude=excl, seed=seed, prefilter_factor=prefilter_factor, return_scores=True
        )
        score[picks] = score_k
    else:  # hybrid
        n_cand = min(prefilter_factor * k, n_avail)
        cand = top_k(unc, n_cand, exclude=excl)
        # fancy indexing reads just the candidates' rows (a memory map stays on disk)
        rows, cluster = weighted_kmeans_pick(float32_finite(emb[cand]), unc[cand], k, seed=seed, return_clusters=True)
        picks = cand[rows]
        score = unc

    picks = picks.astype(np.int64)
    if not return_scores:
        return picks
    chosen_score = distance.copy() if concrete in DIVERSITY_METHODS else score[picks]
    return picks, {"uncertainty": unc[picks], "score": chosen_score, "cluster": cluster, "distance": distance}
