"""The review economy in the agree stage (issue 10) and the model as an annotator (issue 8 item 5).

A simulated crowd with known truth (our own simulator, after benchmarks/bench_review.py):
6 classes with a Zipf-like prior, 8 annotators with 3 distinct ones per item: six regular
annotators (wrong labels uniform over the other classes), a spammer (``ann6``, labels blind
to the truth) and a biased annotator (``ann7``, swaps c0/c1 and c2/c3 40% of the time).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.errors import GateFailed
from data_labeling_pipeline.project import Project
from data_labeling_pipeline.quality.agree import AgreeOptions, agree
from data_labeling_pipeline.quality.gate import evaluate_gate
from data_labeling_pipeline.records import write_json, write_jsonl
from data_labeling_pipeline.stages.agree import run_agree
from data_labeling_pipeline.stages.export import run_export
from data_labeling_pipeline.stages.gate import run_gate

K = 6
CLASSES = [f"c{j}" for j in range(K)]
PRIOR = (1.0 / np.arange(1, K + 1)) / (1.0 / np.arange(1, K + 1)).sum()
ACCURACIES = (0.95, 0.93, 0.92, 0.90, 0.85, 0.60)
AGREEMENT = ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement")
INFORMATIONAL = {"spot_check", "expected_error", "model_disagrees"}
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def confusions() -> np.ndarray:
    out = []
    for acc in ACCURACIES:
        c = np.full((K, K), (1 - acc) / (K - 1))
        np.fill_diagonal(c, acc)
        out.append(c)
    out.append(np.full((K, K), 1.0 / K))
    biased = np.full((K, K), 0.05 / (K - 1))
    np.fill_diagonal(biased, 0.95)
    for s, t in ((0, 1), (1, 0), (2, 3), (3, 2)):
        biased[s, s] -= 0.4
        biased[s, t] += 0.4
    out.append(biased)
    return np.array(out)


def simulate(n_items: int, *, seed: int = 0, drop: str | None = None, n_dropped: int = 150):
    """Annotation records and the true class per item; ``drop`` labels at random in their last labels."""
    conf = confusions()
    rng = np.random.default_rng(seed)
    truth = rng.choice(K, size=n_items, p=PRIOR)
    who = np.sort(np.argsort(rng.random((n_items, len(conf))), axis=1)[:, :3], axis=1).ravel()
    item = np.repeat(np.arange(n_items), 3)
    cum = conf[who, truth[item]].cumsum(1)
    label = np.minimum((rng.random(len(item))[:, None] > cum).sum(1), K - 1)
    names = np.array([f"ann{a}" for a in who])
    if drop is not None:
        last = np.flatnonzero(names == drop)[-n_dropped:]
        label[last] = rng.integers(0, K, size=len(last))
    ids = [f"t{i:05d}" for i in range(n_items)]
    records = [{"item_id": ids[i], "annotator": str(a), "schema_version": 1, "label": CLASSES[lab],
                "created_at": (START + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")}
               for n, (i, a, lab) in enumerate(zip(item.tolist(), names.tolist(), label.tolist(), strict=True))]
    return records, {ids[i]: CLASSES[t] for i, t in enumerate(truth.tolist())}


def model_predictions(truth: dict, *, accuracy: float = 0.85, seed: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    return {i: (t if rng.random() < accuracy else CLASSES[rng.integers(K)]) for i, t in sorted(truth.items())}


@pytest.fixture(scope="module")
def crowd():
    return simulate(2000)


def project_with(bare_project, annotations, *, extra_items=(), **quality) -> Project:
    project = bare_project("text_classification", CLASSES, quality=quality)
    ids = sorted({a["item_id"] for a in annotations} | set(extra_items))
    write_jsonl(project.path("annotations/items.jsonl"), [{"item_id": i, "data": {"text": f"text of {i}"}} for i in ids])
    write_jsonl(project.path("annotations/annotations.jsonl"), annotations)
    return project


def set_params(project: Project, section: str = "quality", **values) -> Project:
    params = yaml.safe_load(project.path("params.yaml").read_text("utf-8"))
    params[section].update(values)
    project.path("params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return Project(project.root)


def jsonl(project: Project, relative: str) -> list[dict]:
    return [json.loads(line) for line in project.path(relative).read_text("utf-8").splitlines()]


def metrics(project: Project, relative: str) -> dict:
    return json.loads(project.path(relative).read_text("utf-8"))


def leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    else:
        yield value


def options(**kwargs) -> AgreeOptions:
    return AgreeOptions(task_type="text_classification", classes=CLASSES, n_resamples=0, **kwargs)


def test_review_economy_queues_follow_the_budget_and_the_actions(bare_project, crowd):
    records, truth = crowd
    # 40 items with one annotator, 25 with none: both go to annotate, never to review.
    lonely = [r for r in records if r["item_id"] < "t0040"]
    lonely = [r for n, r in enumerate(lonely) if n % 3 == 0]
    annotations = [r for r in records if r["item_id"] >= "t0040"] + lonely
    project = project_with(bare_project, annotations, extra_items=[f"u{i:03d}" for i in range(25)])
    summary = run_agree(project)
    review = jsonl(project, "annotations/review.jsonl")
    figures = metrics(project, "metrics/review.json")

    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in leaves(figures))
    assert figures["budget"] == int(0.15 * 2000)
    assert figures["n_review"] - figures["n_spot_check_outside_budget"] <= figures["budget"]
    assert figures["n_spot_check_outside_budget"] > 0 and figures["n_unannotated"] == 25
    assert sum(r["action"] == "review" for r in review) == figures["n_review"]
    assert sum(r["action"] == "annotate" for r in review) == figures["n_annotate"] + 25
    budgeted = [r for r in review if r["action"] == "review" and "spot_check" not in r["reasons"]]
    assert len(budgeted) <= figures["budget"]
    few = {r["item_id"] for r in lonely} | {f"u{i:03d}" for i in range(25)}
    for record in review:
        if record["item_id"] in few:
            assert record["action"] == "annotate" and "too_few_annotators" in record["reasons"], record
        if "too_few_annotators" in record["reasons"]:
            assert record["item_id"] in few
    assert few <= {r["item_id"] for r in review}
    assert {"n_low_confidence", "n_low_confidence_not_taken", "expected_wrong_review", "expected_wrong_accepted",
            "estimated_accuracy_exported", "queue_share"} <= set(figures)
    assert figures["reasons"]["annotate"]["too_few_annotators"] == len(lonely)

    consensus = jsonl(project, "annotations/consensus.jsonl")
    assert all(0 <= c["expected_error"] <= 1 for c in consensus)
    assert sum("outlier_annotator" in c["reasons"] for c in consensus) < 0.2 * len(consensus)
    assert {c["status"] for c in consensus} <= {"accepted", "flagged"}  # nothing held without review_gate
    spot_checked = [c for c in consensus if "spot_check" in c["reasons"]]
    assert spot_checked and all(len(c["spot_check"]) == c["n_annotations"] for c in spot_checked)
    true_accuracy = np.mean([c["label"] == truth[c["item_id"]] for c in consensus])
    assert abs(figures["estimated_accuracy_exported"] - true_accuracy) < 0.03
    assert "estimated accuracy of the exported labels 0.9" in summary.describe()

    annotators = metrics(project, "metrics/annotators.json")
    assert set(annotators) == {f"ann{a}" for a in range(8)}
    assert annotators["ann6"]["flags"].get("spammer") == 1 and annotators["ann6"]["flags"].get("low_kappa") == 1
    assert annotators["ann6"]["n_dependent_items"] > 0 and annotators["ann0"]["n_dependent_items"] == 0
    assert annotators["ann0"]["windows"]["n_windows"] == 4 and annotators["ann0"]["windows"]["below_min_kappa"] == 0
    assert all(isinstance(v, (int, float)) or v is None for v in leaves(annotators))

    names = ["annotations/review.jsonl", "annotations/consensus.jsonl", "metrics/review.json",
             "metrics/annotators.json", "metrics/agreement.json"]
    first = {n: project.path(n).read_bytes() for n in names}
    run_agree(project)
    assert {n: project.path(n).read_bytes() for n in names} == first


@pytest.mark.parametrize("method", ["dawid_skene", "majority"])
def test_review_economy_estimated_accuracy_is_within_half_a_point_of_the_truth(method):
    records, truth = simulate(20000, seed=1)
    result = agree(records, item_ids=truth, options=options(consensus_method=method))
    accuracy = np.mean([c["label"] == truth[c["item_id"]] for c in result.consensus])
    figures = result.review_summary
    assert abs(figures["estimated_accuracy_exported"] - accuracy) < 0.005
    queued = {r["item_id"] for r in result.review}
    accepted = [c for c in result.consensus if c["item_id"] not in queued]
    wrong = sum(c["label"] != truth[c["item_id"]] for c in accepted)
    assert abs(figures["expected_wrong_accepted"] - wrong) < 0.15 * wrong + 10
    assert figures["estimated_accuracy_after_review"] > figures["estimated_accuracy_exported"]


def test_review_economy_review_gate_holds_only_queued_items_with_a_reason(bare_project, crowd):
    records, _ = crowd
    project = project_with(bare_project, records, review_gate=True)
    run_agree(project)
    queued = {r["item_id"]: r for r in jsonl(project, "annotations/review.jsonl")}
    consensus = jsonl(project, "annotations/consensus.jsonl")
    held = [c for c in consensus if c["status"] == "held"]
    assert held
    for c in consensus:
        holding = set(c["reasons"]) - INFORMATIONAL
        if c["status"] == "held":
            assert c["item_id"] in queued and holding
        elif c["item_id"] in queued:
            assert not holding  # a spot check or a budget filler is exported anyway
        else:
            assert c["status"] == ("flagged" if holding else "accepted")
    assert any(c["status"] == "accepted" and c["reasons"] == ["spot_check"] for c in consensus)
    figures = metrics(project, "metrics/review.json")
    exported = [c["expected_error"] for c in consensus if c["status"] != "held"]
    assert figures["n_exported"] == len(exported) == len(consensus) - len(held)
    assert figures["estimated_accuracy_exported"] == pytest.approx(1 - np.mean(exported), abs=1e-6)
    assert metrics(project, "metrics/agreement.json")["n_held"] == len(held)


@pytest.mark.parametrize("method,weight", [("dawid_skene", "auto"), ("dawid_skene", 1.0), ("majority", "auto"),
                                           ("majority", 1.0)])
def test_review_economy_model_votes_change_the_consensus_not_the_agreement(crowd, method, weight):
    records, truth = crowd
    predictions = model_predictions(truth)
    opts = options(consensus_method=method)
    humans = agree(records, item_ids=truth, options=opts)
    informed = agree(records, item_ids=truth, options=opts, model_predictions=predictions, model_weight=weight,
                     model_name="model:v1", model_accuracy=0.85)
    assert {k: informed.metrics[k] for k in AGREEMENT} == {k: humans.metrics[k] for k in AGREEMENT}
    assert set(informed.annotators) == set(humans.annotators) == {f"ann{a}" for a in range(8)}
    assert all(c["n_annotations"] == h["n_annotations"] for c, h in zip(informed.consensus, humans.consensus,
                                                                        strict=True))
    changed = sum(c["label"] != h["label"] for c, h in zip(informed.consensus, humans.consensus, strict=True))
    assert changed > 10

    def accuracy(result):
        return np.mean([c["label"] == truth[c["item_id"]] for c in result.consensus])

    assert accuracy(informed) > accuracy(humans)
    assert informed.metrics["model_votes"] == 1 and informed.metrics["model_n_predictions"] == 2000
    differs = {c["item_id"] for c in informed.consensus if predictions[c["item_id"]] != c["label"]}
    assert {c["item_id"] for c in informed.consensus if "model_disagrees" in c["reasons"]} == differs
    assert informed.metrics["model_agreement_with_consensus"] == pytest.approx(1 - len(differs) / 2000, abs=1e-6)
    assert informed.review_summary["n_model_disagrees"] == len(differs)
    # The disagreement never queues an item on its own.
    assert all(set(r["reasons"]) - {"model_disagrees"} for r in informed.review)
    # Without votes the model still says where it disagrees, and changes nothing else.
    silent = agree(records, item_ids=truth, options=opts, model_predictions=predictions, model_weight=None)
    assert [c["label"] for c in silent.consensus] == [c["label"] for c in humans.consensus]
    assert silent.metrics["model_votes"] == 0
    assert any("model_disagrees" in c["reasons"] for c in silent.consensus)
    assert [r["item_id"] for r in silent.review] == [r["item_id"] for r in humans.review]


def test_review_economy_a_model_at_chance_is_no_voter_under_dawid_skene_auto(crowd):
    """A model that knows nothing is left out: the consensus is the humans', the report says why."""
    records, truth = crowd
    rng = np.random.default_rng(11)
    blind = {i: CLASSES[rng.integers(K)] for i in sorted(truth)}  # labels blind to the item
    opts = options(consensus_method="dawid_skene")
    humans = agree(records, item_ids=truth, options=opts)
    result = agree(records, item_ids=truth, options=opts, model_predictions=blind, model_weight="auto",
                   model_name="model:v1")
    assert [c["label"] for c in result.consensus] == [c["label"] for c in humans.consensus]
    assert result.metrics["model_votes"] == 0 and result.metrics["model_ds_accuracy"] < 0.5
    assert "not above chance" in result.report["model_votes"]["dropped"]
    assert "model_votes_dropped" not in result.metrics  # text goes to the report, figures to the metrics
    informed = agree(records, item_ids=truth, options=opts, model_predictions=model_predictions(truth),
                     model_weight="auto", model_name="model:v1")
    assert informed.metrics["model_votes"] == 1 and "dropped" not in informed.report["model_votes"]


def test_review_economy_stage_reads_the_predictions_of_the_prelabel_stage(bare_project, crowd):
    records, truth = crowd
    project = project_with(bare_project, records, model_votes="auto", consensus_method="majority")
    run_agree(project)
    humans = metrics(project, "metrics/agreement.json")
    assert not any(k.startswith("model_") for k in humans)
    predictions = model_predictions(truth)
    write_jsonl(project.path("annotations/predictions.jsonl"), [
        {"item_id": i, "model_version": "v3", "label": lab, "score": 0.9,
         "probabilities": {c: (0.9 if c == lab else 0.02) for c in CLASSES}} for i, lab in predictions.items()])
    write_json(project.path("metrics/prelabel.json"), {"cv_accuracy": 0.85})
    run_agree(project)
    informed = metrics(project, "metrics/agreement.json")
    assert {k: informed[k] for k in AGREEMENT} == {k: humans[k] for k in AGREEMENT}
    assert informed["model_votes"] == 1 and informed["model_weight"] == 0.85
    assert 0.5 < informed["model_agreement_with_consensus"] < 1
    assert set(metrics(project, "metrics/annotators.json")) == {f"ann{a}" for a in range(8)}
    report = metrics(project, "reports/agreement.json")
    assert report["model_votes"]["name"] == "model:v3"
    consensus = jsonl(project, "annotations/consensus.jsonl")
    assert all(("model_disagrees" in c["reasons"]) == (predictions[c["item_id"]] != c["label"]) for c in consensus)
    off = set_params(project, "prelabel", enabled=False)  # the file is then no dependency of agree
    run_agree(off)
    assert metrics(off, "metrics/agreement.json") == humans
    project = set_params(off, "prelabel", enabled=True)
    project.path("annotations/predictions.jsonl").write_text("", encoding="utf-8")
    run_agree(project)
    assert metrics(project, "metrics/agreement.json") == humans


def test_review_economy_gate_fails_on_min_estimated_accuracy(bare_project, crowd, monkeypatch):
    records, _ = crowd
    # The crowd's alpha is about 0.4 (a spammer and a weak annotator among eight).
    project = project_with(bare_project, records, min_estimated_accuracy=0.999, agreement_threshold=0.3)
    run_agree(project)
    estimate = metrics(project, "metrics/review.json")["estimated_accuracy_exported"]
    assert metrics(project, "metrics/agreement.json")["passes"] == 0
    with pytest.raises(GateFailed) as err:
        run_gate(project)
    assert (f"estimated accuracy of the exported labels {estimate:.6f} is below "
            f"quality.min_estimated_accuracy 0.999") in str(err.value)
    monkeypatch.chdir(project.root)
    assert CliRunner().invoke(app, ["gate"]).exit_code == 3
    lenient = set_params(project, min_estimated_accuracy=0.5)
    run_agree(lenient)
    assert metrics(lenient, "metrics/agreement.json")["passes"] == 1
    assert f"  - estimated accuracy of the exported labels {estimate:.6f} >= 0.5" in run_gate(lenient)


def test_review_economy_annotator_gate_is_opt_in_and_reads_the_latest_window(bare_project):
    records, _ = simulate(2000, drop="ann1")
    project = project_with(bare_project, records, agreement_threshold=0.3)
    run_agree(project)
    ann1 = metrics(project, "metrics/annotators.json")["ann1"]
    windows = ann1["windows"]
    assert windows["kappa_by_window"]["0"] > 0.8 > 0.7 > windows["latest_kappa"]
    assert ann1["kappa_vs_consensus"] > windows["latest_kappa"] + 0.1  # the whole history hides the drop
    assert ann1["flags"]["low_kappa"] == 1
    assert run_gate(project)[0] == "quality gate passed:"  # flags inform; the gate is opt-in
    strict = set_params(project, gate_annotators=True)
    run_agree(strict)
    with pytest.raises(GateFailed, match=r"latest window kappa of ann1 0\.\d+ \(window 3, \d+ labels\) is below the "
                                         r"minimum 0.7 \(quality.min_annotator_kappa\)"):
        run_gate(strict)
    assert metrics(strict, "metrics/agreement.json")["passes"] == 0


def test_review_economy_gate_without_windows_falls_back_to_the_whole_history():
    figures = {"a": {"kappa_vs_consensus": 0.65, "windows": {"latest_kappa": None}},
               "b": {"kappa_vs_consensus": 0.9, "windows": {"latest_kappa": 0.8, "latest_window": 1, "latest_n": 50}}}
    result = evaluate_gate({"m": 0.9}, figures, metric="m", threshold=0.6, min_annotator_score=0.7)
    assert result.failures == ["kappa_vs_consensus of a 0.650000 is below the minimum 0.7 (quality.min_annotator_kappa)"]
    undefined = evaluate_gate({"m": 0.9}, {}, metric="m", threshold=0.6, review={}, min_estimated_accuracy=0.9,
                              reasons={"estimated_accuracy_exported": "not estimated for ner"})
    assert undefined.failures == ["estimated accuracy of the exported labels is undefined (not estimated for ner); "
                                  "set quality.on_undefined to warn or pass to allow it"]


def test_review_economy_export_reports_the_estimated_accuracy_per_split(bare_project, crowd):
    records, _ = crowd
    project = set_params(project_with(bare_project, records[:1500]), "export", formats=["csv"])
    run_agree(project)
    summary = run_export(project)
    estimate = metrics(project, "metrics/export.json")["estimated_accuracy"]
    assert set(estimate) == {"all", "train", "val"}
    assert estimate["all"] == metrics(project, "metrics/review.json")["estimated_accuracy_exported"]
    report = metrics(project, "labeled_data/csv/export_report.json")
    assert report["estimated_accuracy"] == estimate
    assert f"estimated accuracy {estimate['all']:.3f} (train " in summary.describe()
