"""`dlp gate`: fail CI (exit 3) when agreement is below the thresholds in params.yaml.

Checks the headline agreement figure; with ``quality.gate_annotators`` each annotator's
latest-window kappa against ``quality.min_annotator_kappa``; with
``quality.min_estimated_accuracy`` the estimated accuracy of the exported labels
(``metrics/review.json``). See :mod:`..quality.gate`.
"""

from __future__ import annotations

import json

from ..errors import GateFailed, ProjectError
from ..project import Project
from .agree import ANNOTATORS, METRICS, REPORT, REVIEW_METRICS


def run_gate(project: Project) -> list[str]:
    """Evaluate the gate; return the lines to print when it passes, raise GateFailed when not."""
    result = evaluate_project_gate(project)
    if not result.passed:
        lines = ["quality gate failed:", *(f"  - {f}" for f in result.failures),
                 *(f"  warning: {w}" for w in result.warnings)]
        raise GateFailed("\n".join(lines))
    return ["quality gate passed:", *(f"  - {c}" for c in result.passed_checks),
            *(f"  warning: {w}" for w in result.warnings)]


def evaluate_project_gate(project: Project):
    """The gate's verdict on the project's metrics and params (a :class:`..quality.gate` result)."""
    from ..quality.agree import DEFAULT_METRIC
    from ..quality.gate import evaluate_gate

    q = project.params["quality"]
    metrics, annotators, report = (_read(project, path) for path in (METRICS, ANNOTATORS, REPORT))
    metric = q["agreement_metric"]
    if metric == "auto":
        metric = DEFAULT_METRIC[project.params["project"]["task_type"]]
    minimum = q["min_estimated_accuracy"]
    review = _read(project, REVIEW_METRICS) if minimum is not None else None
    return evaluate_gate(metrics, annotators, metric=metric, threshold=q["agreement_threshold"],
                         min_annotator_score=q["min_annotator_kappa"] if q["gate_annotators"] else None,
                         on_undefined=q["on_undefined"], reasons=report.get("undefined", {}),
                         review=review, min_estimated_accuracy=minimum)


def _read(project: Project, relative: str) -> dict:
    path = project.path(relative)
    if not path.exists():
        raise ProjectError(f"{relative} is missing; run dvc repro (the agree stage writes it) before dlp gate")
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{relative}:{exc.lineno}: invalid JSON: {exc.msg}") from None
