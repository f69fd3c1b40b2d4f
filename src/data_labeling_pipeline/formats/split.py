"""Train / validation split by a seeded hash of the item id.

Each item's split depends only on its own id and the seed, never on a random draw over the
whole list: adding or removing items never moves an existing item to the other split, so a
model evaluated on `val` yesterday is still evaluated on the same images today.

Exact per-class proportions and that stability cannot both hold (a new item changes the
counts), so stratification is offered as an explicit trade: with `strata` and no
`previous`, each stratum gets exactly round(val_fraction * n) val items (the lowest hashes);
with `previous` too, every item already assigned keeps its split and only new items fill
each stratum up to its quota.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ..errors import ConfigError, Problem


def _unit(item_id: str, seed: int) -> float:
    """A uniform number in [0, 1) from the seed and the id (stable across runs and machines)."""
    digest = hashlib.sha256(f"{seed}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_val_fraction(val_fraction: float) -> None:
    """Raise a ConfigError unless ``val_fraction`` is a number in [0, 1]."""
    if not isinstance(val_fraction, (int, float)) or isinstance(val_fraction, bool) or not 0 <= val_fraction <= 1:
        raise ConfigError([Problem("params.yaml", None, "$.export.val_fraction",
                                   f"expected a number in [0, 1], got {val_fraction!r}")])


def split_of(item_id: str, *, val_fraction: float, seed: int = 0) -> str:
    """The split of one item without strata: what `assign_split` gives it, from its id alone.

    >>> split_of("a", val_fraction=0.5, seed=1) == assign_split(["a", "b"], val_fraction=0.5, seed=1)["a"]
    True
    """
    return "val" if _unit(item_id, seed) < val_fraction else "train"


def assign_split(
    item_ids: Iterable[str],
    *,
    val_fraction: float,
    seed: int = 0,
    strata: dict[str, str] | None = None,
    previous: dict[str, str] | None = None,
) -> dict[str, str]:
    """Assign each item to "train" or "val", reproducibly, keyed by a hash of its id.

    Args:
        item_ids: the ids to assign (order does not matter).
        val_fraction: the share of items to put in "val", in [0, 1].
        seed: changes the whole assignment; keep it fixed for a project.
        strata: item_id -> stratum (e.g. the item's rarest class, see `strata_from_labels`);
            each stratum then gets its own share of val items (exact, see the module note).
        previous: an earlier assignment; its items keep their split (only with `strata`;
            without strata the assignment is already stable).

    Returns:
        item_id -> "train" | "val", sorted by item id.

    Example:
        >>> before = assign_split(["a", "b", "c"], val_fraction=0.5, seed=1)
        >>> after = assign_split(["a", "b", "c", "d"], val_fraction=0.5, seed=1)
        >>> all(after[k] == v for k, v in before.items())
        True
    """
    check_val_fraction(val_fraction)
    ids = sorted(set(item_ids))
    if strata is None:
        return {i: split_of(i, val_fraction=val_fraction, seed=seed) for i in ids}
    prev = previous or {}
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(str(strata.get(i, "")), []).append(i)
    out: dict[str, str] = {}
    for _, members in sorted(groups.items()):
        quota = round(val_fraction * len(members))
        kept = [i for i in members if prev.get(i) in ("train", "val")]
        for i in kept:
            out[i] = prev[i]
        free = sorted((i for i in members if i not in out), key=lambda i: (_unit(i, seed), i))
        need = max(0, quota - sum(1 for i in kept if prev[i] == "val"))
        for rank, i in enumerate(free):
            out[i] = "val" if rank < need else "train"
    return dict(sorted(out.items()))


def strata_from_labels(labels: dict[str, dict], label_schema: dict) -> dict[str, str]:
    """item_id -> the item's rarest class (ties by schema order); "" for an item without one.

    Stratifying on the rarest class keeps rare classes in both splits, which is what
    matters most for evaluation.

    >>> schema = {"task_type": "bbox", "classes": [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}]}
    >>> labels = {"a": {"boxes": [{"label": "car"}, {"label": "bus"}]}, "b": {"boxes": [{"label": "car"}]}}
    >>> strata_from_labels(labels, schema)
    {'a': 'bus', 'b': 'car'}
    """
    order = {c["name"]: k for k, c in enumerate(label_schema["classes"])}
    per_item: dict[str, set[str]] = {}
    for item_id, payload in labels.items():
        names: set[str] = set()
        if "label" in payload and payload["label"] is not None:
            names.add(payload["label"])
        names.update(payload.get("labels") or [])
        names.update(o["label"] for o in payload.get("spans") or [])
        names.update(o["label"] for o in payload.get("boxes") or [])
        per_item[item_id] = names
    freq: dict[str, int] = {}
    for names in per_item.values():
        for n in names:
            freq[n] = freq.get(n, 0) + 1
    out = {}
    for item_id in sorted(per_item):
        names = per_item[item_id]
        out[item_id] = min(names, key=lambda n: (freq[n], order.get(n, len(order)), n)) if names else ""
    return out
