"""Pure active learning for the ``select`` stage: which items to label next.

A strategy is a utility measure (how informative a row is, higher = more) plus a batch
selector (which k rows): :func:`select` composes them by name. Inputs are numpy arrays with
one row per pool item, sorted by item id; ties always go to the lower row, random parts use
``numpy.random.default_rng(seed)``, so the same inputs give the same queue byte for byte (on
one machine: the float32 distances come from its BLAS).
Nothing here reads files or params; scikit-learn is imported only inside
:func:`bootstrap_committee`.

Example:
    >>> from data_labeling_pipeline.active import select
    >>> select([[0.9, 0.1], [0.5, 0.5], [0.7, 0.3]], 2, strategy="uncertainty").tolist()
    [1, 2]
"""

from data_labeling_pipeline.active.badge import badge_pick, gradient_embeddings
from data_labeling_pipeline.active.committee import bootstrap_committee
from data_labeling_pipeline.active.distances import min_sq_distances
from data_labeling_pipeline.active.diversity import kcenter_greedy, kmeans_pp
from data_labeling_pipeline.active.hybrid import weighted_kmeans, weighted_kmeans_pick
from data_labeling_pipeline.active.selectors import random_k, top_k
from data_labeling_pipeline.active.strategy import (
    COLD_START_PER_CLASS,
    FAMILIES,
    HYBRID_ABOVE,
    PREFILTER_FACTOR,
    SCORE_KEYS,
    STRATEGIES,
    resolve_strategy,
    select,
)
from data_labeling_pipeline.active.typiclust import typicality, typiclust_pick
from data_labeling_pipeline.active.utility import (
    COMMITTEE_MEASURES,
    UNCERTAINTY_MEASURES,
    consensus_entropy,
    entropy,
    kl_disagreement,
    least_confidence,
    margin,
    uncertainty,
    vote_entropy,
)

__all__ = [
    "COLD_START_PER_CLASS",
    "COMMITTEE_MEASURES",
    "FAMILIES",
    "HYBRID_ABOVE",
    "PREFILTER_FACTOR",
    "SCORE_KEYS",
    "STRATEGIES",
    "UNCERTAINTY_MEASURES",
    "badge_pick",
    "bootstrap_committee",
    "consensus_entropy",
    "entropy",
    "gradient_embeddings",
    "kcenter_greedy",
    "kl_disagreement",
    "kmeans_pp",
    "least_confidence",
    "margin",
    "min_sq_distances",
    "random_k",
    "resolve_strategy",
    "select",
    "top_k",
    "typicality",
    "typiclust_pick",
    "uncertainty",
    "vote_entropy",
    "weighted_kmeans",
    "weighted_kmeans_pick",
]
