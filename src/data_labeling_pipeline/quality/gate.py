"""The quality gate: agreement figures against thresholds, for CI.

Three checks, the last two opt-in:

- the headline agreement figure against ``quality.agreement_threshold``;
- each annotator against ``quality.min_annotator_kappa`` (with ``quality.gate_annotators``):
  the kappa of their *latest* window of ``qa_every_n_labels`` labels (a recent drop is what
  needs action; a whole-history kappa hides it), or their whole-history kappa against the
  consensus while no window has enough labels yet; F1 against the consensus for spans and boxes;
- the estimated accuracy of the exported labels (``metrics/review.json``) against
  ``quality.min_estimated_accuracy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ON_UNDEFINED = ("fail", "warn", "pass")
ESTIMATED_ACCURACY = "estimated_accuracy_exported"
# Why every figure is undefined on a new project; said instead of the statistic's own reason.
NO_ANNOTATIONS = "no annotations yet: label some items in Label Studio, then dvc repro"


@dataclass
class GateResult:
    """What the gate decided: failures (each a line for the user) and warnings."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passed_checks: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def annotator_score(figures: Mapping[str, Any]) -> tuple[str, float | None]:
    """The figure an annotator is gated on, and its name in messages.

    The latest-window kappa when ``figures["windows"]`` has one, else the whole-history kappa
    against the consensus (classification) or F1 against the consensus (spans, boxes).

    Example:
        >>> annotator_score({"kappa_vs_consensus": 0.8, "windows": {"latest_kappa": 0.6, "latest_window": 2}})
        ('latest window kappa', 0.6)
        >>> annotator_score({"kappa_vs_consensus": 0.8, "windows": {"latest_kappa": None}})
        ('kappa_vs_consensus', 0.8)
    """
    latest = (figures.get("windows") or {}).get("latest_kappa")
    if latest is not None:
        return "latest window kappa", latest
    key = "kappa_vs_consensus" if "kappa_vs_consensus" in figures else "f1_vs_consensus"
    return key, figures.get(key)


def evaluate_gate(
    metrics: Mapping,
    annotators: Mapping[str, Mapping],
    *,
    metric: str,
    threshold: float,
    min_annotator_score: float | None = None,
    on_undefined: str = "fail",
    reasons: Mapping[str, str] | None = None,
    review: Mapping | None = None,
    min_estimated_accuracy: float | None = None,
) -> GateResult:
    """Check the headline figure, optionally every annotator and the estimated accuracy of the labels.

    A figure that is ``None`` (undefined, e.g. a single annotator) fails, warns or
    passes as ``on_undefined`` says; its reason is quoted when known.

    Args:
        metrics: ``metrics/agreement.json``.
        annotators: ``metrics/annotators.json``.
        metric: The headline figure's key.
        threshold: Its minimum.
        min_annotator_score: Minimum of each annotator's :func:`annotator_score` (``None``: not checked).
        on_undefined: ``"fail"``, ``"warn"`` or ``"pass"``.
        reasons: ``figure -> why it is undefined`` (``reports/agreement.json``'s ``undefined``).
        review: ``metrics/review.json`` (needed with ``min_estimated_accuracy``).
        min_estimated_accuracy: Minimum of ``review["estimated_accuracy_exported"]`` (``None``: not checked).

    Example:
        >>> r = evaluate_gate({"fleiss_kappa": 0.4}, {}, metric="fleiss_kappa", threshold=0.6)
        >>> r.passed, r.failures
        (False, ['fleiss_kappa 0.400000 is below the threshold 0.6'])
        >>> r = evaluate_gate({"fleiss_kappa": 0.8}, {}, metric="fleiss_kappa", threshold=0.6,
        ...                   review={"estimated_accuracy_exported": 0.91}, min_estimated_accuracy=0.95)
        >>> r.failures
        ['estimated accuracy of the exported labels 0.910000 is below quality.min_estimated_accuracy 0.95']
    """
    result = GateResult()
    reasons = reasons or {}

    def undefined(what: str, why: str | None) -> None:
        line = f"{what} is undefined" + (f" ({why})" if why else "")
        if on_undefined == "fail":
            result.failures.append(line + "; set quality.on_undefined to warn or pass to allow it")
        elif on_undefined == "warn":
            result.warnings.append(line)

    value = metrics.get(metric)
    if value is None:
        undefined(metric, NO_ANNOTATIONS if metrics.get("n_annotations") == 0 else reasons.get(metric))
    elif value < threshold:
        result.failures.append(f"{metric} {value:.6f} is below the threshold {threshold:g}")
    else:
        result.passed_checks.append(f"{metric} {value:.6f} >= {threshold:g}")
    if min_annotator_score is not None:
        for who, figures in sorted(annotators.items()):
            key, score = annotator_score(figures)
            if score is None:
                undefined(f"{key} of {who}", None)
            elif score < min_annotator_score:
                where = ""
                if key == "latest window kappa":
                    w = figures["windows"]
                    where = f" (window {w.get('latest_window')}, {w.get('latest_n')} labels)"
                result.failures.append(f"{key} of {who} {score:.6f}{where} is below the minimum "
                                       f"{min_annotator_score:g} (quality.min_annotator_kappa)")
    if min_estimated_accuracy is not None:
        what = "estimated accuracy of the exported labels"
        accuracy = (review or {}).get(ESTIMATED_ACCURACY)
        if accuracy is None:
            undefined(what, reasons.get(ESTIMATED_ACCURACY))
        elif accuracy < min_estimated_accuracy:
            result.failures.append(f"{what} {accuracy:.6f} is below quality.min_estimated_accuracy "
                                   f"{min_estimated_accuracy:g}")
        else:
            result.passed_checks.append(f"{what} {accuracy:.6f} >= {min_estimated_accuracy:g}")
    return result


def annotators_below(annotators: Mapping[str, Mapping], min_score: float | None) -> list[str]:
    """Annotators whose :func:`annotator_score` is below ``min_score`` (undefined ones are not).

    Example:
        >>> annotators_below({"a": {"kappa_vs_consensus": 0.5}, "b": {"kappa_vs_consensus": 0.9}}, 0.7)
        ['a']
    """
    if min_score is None:
        return []
    return [who for who, figures in sorted(annotators.items())
            if (score := annotator_score(figures)[1]) is not None and score < min_score]
