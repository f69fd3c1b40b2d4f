"""The quality gate: agreement figures against thresholds, for CI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ON_UNDEFINED = ("fail", "warn", "pass")


@dataclass
class GateResult:
    """What the gate decided: failures (each a line for the user) and warnings."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passed_checks: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def evaluate_gate(
    metrics: Mapping,
    annotators: Mapping[str, Mapping],
    *,
    metric: str,
    threshold: float,
    min_annotator_score: float | None = None,
    on_undefined: str = "fail",
    reasons: Mapping[str, str] | None = None,
) -> GateResult:
    """Check the headline figure and (optionally) every annotator's agreement with the consensus.

    A figure that is ``None`` (undefined, e.g. a single annotator) fails, warns or
    passes as ``on_undefined`` says; its reason is quoted when known.

    Example:
        >>> r = evaluate_gate({"fleiss_kappa": 0.4}, {}, metric="fleiss_kappa", threshold=0.6)
        >>> r.passed, r.failures
        (False, ['fleiss_kappa 0.400000 is below the threshold 0.6'])
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
        undefined(metric, reasons.get(metric))
    elif value < threshold:
        result.failures.append(f"{metric} {value:.6f} is below the threshold {threshold:g}")
    else:
        result.passed_checks.append(f"{metric} {value:.6f} >= {threshold:g}")
    if min_annotator_score is not None:
        for who, figures in sorted(annotators.items()):
            key = "kappa_vs_consensus" if "kappa_vs_consensus" in figures else "f1_vs_consensus"
            score = figures.get(key)
            if score is None:
                undefined(f"{key} of {who}", None)
            elif score < min_annotator_score:
                result.failures.append(f"{key} of {who} {score:.6f} is below the minimum {min_annotator_score:g}")
    return result
