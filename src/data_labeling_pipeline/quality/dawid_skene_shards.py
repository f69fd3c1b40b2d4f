"""Dawid-Skene EM as map-reduce over item shards on a dask.distributed cluster.

The same fit as :class:`.DawidSkene` (same initialisation, smoothing, one-coin shrinkage,
ground-truth clamping, stopping rule, degenerate fallback and held-out posterior), for
projects too large for one process: at 100M annotations the shards would live on a DVC
remote or object store and each worker would read its own; here the driver splits the
encoded table into contiguous item blocks and scatters them once.

Per iteration the driver sends each shard the current log priors and log confusions
(O(annotators x classes^2) floats) and gets back only the sufficient statistics of the next
M-step: per-class posterior sums, the classes x (annotator, label) soft counts, the
log-likelihood and the agreement sums (for ``tol`` and the degeneracy check). One round
trip per iteration (plus one for the starting posterior, one for the results and one more
if the fit is degenerate); the M-step itself runs on the driver. Posteriors never travel
during EM: each shard recomputes its own from the final fit, and they are gathered once at
the end (items x classes floats, with the held-out posterior) for the consensus, which
also needs the table's votes on the driver.

A round trip costs ~10-20 ms on a 2-worker local cluster, while a shard's E-step plus sums
takes ~25 ns per annotation: sharding pays once shards hold millions of annotations, or when
the table does not fit one machine. At 300k annotations the local fit is ~3x faster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.consensus import consensus_from_probas
from data_labeling_pipeline.quality.dawid_skene import (
    DawidSkene,
    annotator_counts,
    e_step,
    holdout_rows,
    log_parameters,
    soft_counts,
)
from data_labeling_pipeline.quality.encoding import LongTable, category_counts, item_bounds

if TYPE_CHECKING:
    from distributed import Client

# A shard's posterior comes from an E-step under (log priors, log confusions), or is one of these.
START = "start"  # the fit's initialisation: vote shares, or the seeded Dirichlet slice
MAJORITY = "majority"  # vote shares: the degenerate fallback


@dataclass(frozen=True)
class Shard:
    """One contiguous block of items: what a worker holds for the whole fit.

    Attributes:
        table: The block's annotations (item codes from 0 within the block; annotator and
            label codes global, so soft counts add up across shards).
        item_starts: First row of each item (``item_bounds``), for the E-step ``reduceat``.
        group: ``annotator * classes + label`` per row.
        item_of_group_row: Item of each row, rows sorted by group (the M-step ``reduceat``).
        group_present: Groups that occur in the block.
        group_starts: First sorted row of each present group.
        clamp_rows: Ground-truth items (block codes).
        clamp_cols: Their known class.
        start: Classes x items starting posterior (``init="random"``); ``None``: vote shares.
    """

    table: LongTable
    item_starts: np.ndarray
    group: np.ndarray
    item_of_group_row: np.ndarray
    group_present: np.ndarray
    group_starts: np.ndarray
    clamp_rows: np.ndarray
    clamp_cols: np.ndarray
    start: np.ndarray | None


class _Sums(NamedTuple):
    """What a shard returns per iteration: additive, so the driver just sums them."""

    prior: np.ndarray  # posterior mass per class (the prior's numerator)
    soft_counts: np.ndarray  # true class x (annotator, given label) posterior sums
    log_likelihood: float  # sum over items of log P(the item's labels)
    agreement: float  # sum over annotations of the posterior of the given label


def shard_bounds(table: LongTable, shards: int) -> np.ndarray:
    """Item codes where each shard starts, then ``n_items``: about equal annotations per shard.

    An item never spans two shards, and no shard is empty (so there may be fewer than ``shards``).

    Args:
        table: The encoded table (rows sorted by item).
        shards: Shards wanted.

    Returns:
        Increasing item codes; shard ``i`` holds items ``bounds[i]:bounds[i + 1]``.

    Example:
        >>> from data_labeling_pipeline.quality.encoding import encode_long
        >>> table = encode_long([1, 1, 1, 2, 3, 3], list("abcaab"), list("xyxxyx"))
        >>> shard_bounds(table, 2).tolist(), shard_bounds(table, 10).tolist()
        ([0, 1, 3], [0, 1, 2, 3])
    """
    targets = np.linspace(0, len(table), shards + 1)[1:-1]
    cuts = np.searchsorted(item_bounds(table), targets)  # first item starting at or after each target
    return np.unique(np.concatenate([[0], cuts, [table.n_items]])).astype(np.int64)


def _make_shards(table: LongTable, bounds: np.ndarray, clamp_rows, clamp_cols, start) -> list[Shard]:
    """One :class:`Shard` per item block, with ``fit_table``'s row index built once, not per iteration."""
    k = table.n_classes
    row_of_item = np.append(item_bounds(table), len(table))
    out = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = slice(row_of_item[lo], row_of_item[hi])
        part = LongTable(table.item[rows] - lo, table.annotator[rows], table.label[rows], table.items[lo:hi],
                         table.annotators, list(table.classes), table.order[rows])
        group = part.annotator * k + part.label
        by_group = np.argsort(group, kind="stable")  # as fit_table: rows of a group stay in item order
        sorted_groups = group[by_group]
        present = np.unique(sorted_groups)
        mine = (clamp_rows >= lo) & (clamp_rows < hi)
        out.append(Shard(part, item_bounds(part), group, part.item[by_group], present,
                         np.searchsorted(sorted_groups, present), clamp_rows[mine] - lo, clamp_cols[mine],
                         None if start is None else np.ascontiguousarray(start[:, lo:hi])))
    return out


def _shard_posterior(shard: Shard, fit) -> tuple[np.ndarray, float]:
    """Classes x items posterior of a shard and its log-likelihood sum (0 for a starting posterior).

    ``fit`` is ``(log priors, log confusions as classes x (annotator, label))`` for an E-step,
    or :data:`START` / :data:`MAJORITY`. Mirrors the E-step of ``DawidSkene.fit_table``.
    """
    table = shard.table
    ll = 0.0
    if isinstance(fit, str):
        if fit == START and shard.start is not None:
            post = shard.start.copy()
        else:
            votes = category_counts(table)
            post = (votes / votes.sum(1, keepdims=True)).T.copy()
    else:
        post, ll = e_step(*fit, shard.group, shard.item_starts)
    post[:, shard.clamp_rows] = 0.0
    post[shard.clamp_cols, shard.clamp_rows] = 1.0
    return post, ll


def _shard_sums(shard: Shard, fit) -> _Sums:
    """Map step: the shard's posterior under ``fit``, reduced to the next M-step's statistics."""
    post, ll = _shard_posterior(shard, fit)
    table = shard.table
    k = table.n_classes
    soft = soft_counts(post, shard.item_of_group_row, shard.group_present, shard.group_starts, table.n_annotators * k)
    return _Sums(post.sum(1), soft, ll, float(post[table.label, table.item].sum()))


def _shard_result(shard: Shard, fit, log_prior: np.ndarray, pseudo: np.ndarray):
    """Final map: the shard's posterior rows, held-out rows (as ``DawidSkene._holdout``) and skill sums.

    ``pseudo`` is annotator x true x given: the global soft counts plus shrinkage and smoothing.
    """
    post, _ = _shard_posterior(shard, fit)
    post = np.ascontiguousarray(post.T)
    table = shard.table
    a, g, it = table.annotator, table.label, table.item
    holdout = holdout_rows(table, post, log_prior, pseudo)
    holdout[shard.clamp_rows] = 0.0
    holdout[shard.clamp_rows, shard.clamp_cols] = 1.0
    given = np.bincount(a, weights=post[it, g], minlength=table.n_annotators)
    return post, holdout, given


def _map(client: Client, shards: list, fn, *args) -> list:
    """One round trip: ``fn(shard, *args)`` where each shard lives; results in shard order."""
    return client.gather([client.submit(fn, shard, *args, pure=False) for shard in shards])


def _total(parts: list[_Sums]) -> _Sums:
    return _Sums(*(sum(field) for field in zip(*parts, strict=True)))


def fit_sharded(table: LongTable, *, client: Client, shards: int, truth: Mapping | None = None,
                **ds_params: Any) -> DawidSkene:
    """Fit :class:`.DawidSkene` by map-reduce over ``shards`` item blocks on a dask cluster.

    Args:
        table: The encoded annotations.
        client: A ``distributed.Client`` (see :func:`data_labeling_pipeline.cluster.dask_client`).
        shards: Item blocks to split the table into (at most one per item).
        truth: Optional ``item_id -> true label``, clamped as in :meth:`.DawidSkene.fit`.
        **ds_params: ``DawidSkene`` options (``max_iter``, ``tol``, ``init``, ...).

    Returns:
        A fitted ``DawidSkene``, interchangeable with ``DawidSkene(**ds_params).fit_table(table)``
        (equal up to float summation order).

    Example:
        >>> from data_labeling_pipeline.quality.encoding import encode_long
        >>> table = encode_long([1, 1, 1, 2, 2, 2, 3, 3, 3], list("abcabcabc"), list("xxyyyyxxx"))
        >>> from data_labeling_pipeline.cluster import dask_client
        >>> with dask_client(None) as client:
        ...     ds = fit_sharded(table, client=client, shards=2)
        >>> ds.labels_.tolist(), ds.n_iter_ == DawidSkene().fit_table(table).n_iter_
        (['x', 'y', 'x'], True)
    """
    model = DawidSkene(**ds_params)
    model._check_params()
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise DataError.single("<dawid_skene>", None, "shards", f"expected an integer >= 1, got {shards!r}")
    clamp_rows, clamp_cols = model._truth_index(table, truth)
    if len(table) == 0 or table.n_classes == 0:
        return model.fit_table(table, truth=truth)  # nothing to distribute

    n_ann, k = table.n_annotators, table.n_classes
    start = None
    if model.init == "random":  # drawn for all items in item order, as the local fit does
        start = np.random.default_rng(model.seed).dirichlet(np.ones(k), size=table.n_items).T
    futures = client.scatter(_make_shards(table, shard_bounds(table, shards), clamp_rows, clamp_cols, start))

    sums = _total(_map(client, futures, _shard_sums, START))
    prev_ll, converged, n_iter = -np.inf, False, 0
    while n_iter < model.max_iter:
        n_iter += 1
        priors, conf = model.m_step_from_sums(sums.prior, sums.soft_counts)
        fit = log_parameters(priors, conf)
        sums = _total(_map(client, futures, _shard_sums, fit))
        ll = sums.log_likelihood / len(table)
        if abs(ll - prev_ll) < model.tol:
            converged = True
            break
        prev_ll = ll
    degenerate = k >= 2 and sums.agreement / len(table) < 1.0 / k  # DawidSkene._degenerate, from sums
    if degenerate:  # the local fit's fallback: keep the majority posterior
        fit = MAJORITY
        sums = _total(_map(client, futures, _shard_sums, fit))
        priors, conf = model.m_step_from_sums(sums.prior, sums.soft_counts)

    # The soft counts of the final posterior are already in ``sums``: no extra round trip for the holdout.
    pseudo = model.pseudo_counts(annotator_counts(sums.soft_counts, k))
    parts = _map(client, futures, _shard_result, fit, np.log(np.maximum(priors, 1e-300)), pseudo)

    model.items_, model.classes_, model.annotators_ = table.items, list(table.classes), table.annotators
    model.n_iter_, model.converged_, model.log_likelihood_ = n_iter, converged, ll
    model.degenerate_ = degenerate
    model.priors_, model.confusions_ = priors, conf
    model.probas_ = np.concatenate([p[0] for p in parts])
    model.holdout_probas_ = np.concatenate([p[1] for p in parts])
    model.skills_ = sum(p[2] for p in parts) / np.maximum(np.bincount(table.annotator, minlength=n_ann), 1)
    model._consensus = consensus_from_probas(table, model.probas_, method="dawid_skene", skills=model.skills_,
                                             votes=category_counts(table))
    model.labels_ = np.array(model._consensus.labels, dtype=object)
    return model
