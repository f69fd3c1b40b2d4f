"""Which annotator gets which item, on Label Studio's Community edition (pure).

Community has no per-task overlap or assignment, so ``routing: per_annotator`` gives each
annotator a project of their own and pushes an item to as many of them as it still
needs. An item needs ``target`` labels: ``quality.min_annotators_per_sample`` for a
queued item, one more than it has for an item the review queue sends to ``annotate``.
Labels already given and tasks already waiting in an annotator's project both count,
so pushing twice never adds work. Among the annotators who have neither labelled it nor
have it waiting, the least loaded get it (ties broken by a hash of item and annotator,
so the plan is deterministic and spreads evenly).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping


def needed_labels(item_ids: Iterable[str], labelled_by: Mapping[str, set[str]], *, min_annotators: int,
                  one_more: Iterable[str] = ()) -> dict[str, int]:
    """item_id -> how many labels it should have: ``min_annotators``, or one more than now for ``one_more``.

    >>> needed_labels(["a", "b"], {"b": {"x", "y"}}, min_annotators=2, one_more=["b"])
    {'a': 2, 'b': 3}
    """
    extra = set(one_more)
    target = {item_id: min_annotators for item_id in item_ids}
    for item_id in extra:
        target[item_id] = max(min_annotators, len(labelled_by.get(item_id, ())) + 1)
    return target


def plan_per_annotator(targets: Mapping[str, int], annotators: list[str], labelled_by: Mapping[str, set[str]],
                       waiting: Mapping[str, set[str]]) -> dict[str, list[str]]:
    """annotator -> the item ids to push to their project (sorted).

    Args:
        targets: item_id -> how many annotators it should have (:func:`needed_labels`).
        annotators: the annotators' e-mails (``project.label_studio.annotators``).
        labelled_by: item_id -> annotators who already labelled it.
        waiting: annotator -> item ids already in their project and not yet labelled by them.

    Example:
        >>> plan = plan_per_annotator({"a": 2, "b": 1}, ["x", "y", "z"], {"a": {"x"}}, {"y": {"b"}})
        >>> sorted((who, items) for who, items in plan.items() if items)
        [('z', ['a'])]
    """
    load = {who: len(waiting.get(who, ())) for who in annotators}
    plan: dict[str, list[str]] = {who: [] for who in annotators}
    for item_id in sorted(targets):
        done = labelled_by.get(item_id, set())
        queued = {who for who in annotators if item_id in waiting.get(who, ())}
        missing = targets[item_id] - len(done | queued)
        candidates = [who for who in annotators if who not in done and who not in queued]
        candidates.sort(key=lambda who: (load[who], _tie(item_id, who)))
        for who in candidates[:max(0, missing)]:
            plan[who].append(item_id)
            load[who] += 1
    return plan


def _tie(item_id: str, annotator: str) -> str:
    return hashlib.sha1(f"{item_id}\x1f{annotator}".encode()).hexdigest()
