"""The agree stage, the gate and the seed's QualityAssurance facade, on real Label Studio exports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.core import QualityAssurance
from data_labeling_pipeline.errors import DataError, GateFailed
from data_labeling_pipeline.quality.gate import evaluate_gate
from data_labeling_pipeline.stages.agree import run_agree
from data_labeling_pipeline.stages.gate import run_gate
from data_labeling_pipeline.stages.pull import run_pull

LS = Path(__file__).parent / "assets" / "labelstudio"
PROJECTS = {
    "imgcls": ("image_classification", ["cat", "dog", "bird", "other"]),
    "textcls": ("text_classification", ["positive", "negative", "neutral"]),
    "ner": ("ner", ["PER", "ORG", "LOC", "DATE"]),
    "bbox": ("bbox", ["car", "person", "bicycle"]),
}


def pulled(bare_project, key, **sections):
    task_type, classes = PROJECTS[key]
    project = bare_project(task_type, classes, **sections)
    shutil.copy(LS / f"{key}.snapshot.json", project.path("inbox") / "export.json")
    if task_type in ("image_classification", "bbox"):
        shutil.copytree(LS / "images", project.path("images"))
    run_pull(project)
    return project


def jsonl(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_agree_classification_outputs(bare_project):
    project = pulled(bare_project, "textcls")
    summary = run_agree(project)
    metrics = json.loads(project.path("metrics/agreement.json").read_text())
    for key in ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement", "n_items",
                "n_annotations", "n_annotators", "n_flagged", "passes"):
        assert key in metrics, key
    assert metrics["n_annotations"] == 21 and metrics["n_annotators"] == 3 and metrics["n_items"] == 8
    assert summary.headline == "krippendorff_alpha"
    consensus = {c["item_id"]: c for c in jsonl(project.path("annotations/consensus.jsonl"))}
    # a-txt-05: ann1's ground-truth annotation is the review decision.
    assert consensus["a-txt-05"]["status"] == "reviewed" and consensus["a-txt-05"]["label"] == "positive"
    # a-txt-08: three annotators, three labels.
    assert "disagreement" in consensus["a-txt-08"]["reasons"]
    review = {r["item_id"]: r for r in jsonl(project.path("annotations/review.jsonl"))}
    # Three annotators of at most five: one more annotator (cheap) comes before an expert.
    assert "a-txt-08" in review and review["a-txt-08"]["action"] == "annotate"
    annotators = json.loads(project.path("metrics/annotators.json").read_text())
    assert set(annotators) == {"ann1@example.com", "ann2@example.com", "ann3@example.com"}
    assert annotators["ann1@example.com"]["accuracy_vs_truth"] == 1.0
    assert (project.path("plots/confusion") / "ann2@example.com.json").exists()
    trend = json.loads(project.path("plots/agreement_trend.json").read_text())
    assert sum(w["labels"] for w in trend) == 21


def test_agree_metrics_are_numbers_rounded_and_sorted(bare_project):
    project = pulled(bare_project, "imgcls")
    run_agree(project)
    text = project.path("metrics/agreement.json").read_text()
    metrics = json.loads(text)

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        else:
            yield value

    assert all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in leaves(metrics))
    assert all(len(repr(v).split(".")[-1]) <= 6 for v in leaves(metrics) if isinstance(v, float))
    assert list(metrics) == sorted(metrics)


def test_agree_item_without_annotations_is_routed_for_annotation(bare_project):
    project = pulled(bare_project, "imgcls")
    run_agree(project)
    review = {r["item_id"]: r for r in jsonl(project.path("annotations/review.jsonl"))}
    assert review["a-img-08"] == {"action": "annotate", "item_id": "a-img-08", "n_annotations": 0,
                                  "reasons": ["too_few_annotators"]}


@pytest.mark.parametrize("key,metric", [("ner", "span_f1_exact"), ("bbox", "box_f1_50")])
def test_agree_structured_task_types(bare_project, key, metric):
    project = pulled(bare_project, key)
    summary = run_agree(project)
    assert summary.headline == metric
    metrics = json.loads(project.path("metrics/agreement.json").read_text())
    assert 0 < metrics[metric] <= 1
    assert metrics["cohens_kappa"] is None
    report = json.loads(project.path("reports/agreement.json").read_text())
    assert "not defined for" in report["undefined"]["cohens_kappa"]
    consensus = {c["item_id"]: c for c in jsonl(project.path("annotations/consensus.jsonl"))}
    payload = "spans" if key == "ner" else "boxes"
    assert all(payload in c for c in consensus.values() if c["n_annotations"])


def test_agree_item_that_cannot_take_another_annotator_goes_to_review(bare_project):
    project = pulled(bare_project, "textcls", quality={"max_annotators_per_sample": 3, "review_budget": None})
    run_agree(project)
    review = {r["item_id"]: r for r in jsonl(project.path("annotations/review.jsonl"))}
    assert review["a-txt-08"]["action"] == "review" and "disagreement" in review["a-txt-08"]["reasons"]
    assert review["a-txt-08"]["label"] is not None and 0 <= review["a-txt-08"]["expected_error"] <= 1


def test_agree_structured_routing_has_no_accuracy_estimate(bare_project, monkeypatch):
    project = pulled(bare_project, "ner", quality={"min_estimated_accuracy": 0.9, "agreement_threshold": 0.1})
    run_agree(project)
    figures = json.loads(project.path("metrics/review.json").read_text())
    assert figures["n_unannotated"] == 1 and "n_review" in figures
    assert not [k for k in figures if k.startswith(("estimated_accuracy", "expected_wrong"))]
    assert all("expected_error" not in c for c in jsonl(project.path("annotations/consensus.jsonl")))
    assert "expected_error" not in figures["reasons"]["review"]  # no budget filler without a calibrated error
    with pytest.raises(GateFailed, match=r"estimated accuracy of the exported labels is undefined \(not estimated "
                                         r"for ner: its confidence is an agreement share"):
        run_gate(project)


def test_agree_bbox_consensus_uses_median_box_and_keeps_explicit_negative(bare_project):
    project = pulled(bare_project, "bbox")
    run_agree(project)
    consensus = {c["item_id"]: c for c in jsonl(project.path("annotations/consensus.jsonl"))}
    # a-box-05: two explicit negatives against one car: the consensus is "no boxes".
    assert consensus["a-box-05"]["boxes"] == []
    cars = [b for b in consensus["a-box-01"]["boxes"] if b["label"] == "car"]
    assert [cars[0][k] for k in ("x", "y", "w", "h")] == [40, 200, 220, 140]


def test_agree_corrections_win_and_are_validated(bare_project):
    project = pulled(bare_project, "textcls")
    correction = {"item_id": "a-txt-08", "annotator": "lead@example.com", "schema_version": 1,
                  "label": "negative", "note": "sarcasm", "created_at": "2026-12-01T10:00:00Z"}
    project.path("annotations/corrections.jsonl").write_text(json.dumps(correction) + "\n", encoding="utf-8")
    run_agree(project)
    consensus = {c["item_id"]: c for c in jsonl(project.path("annotations/consensus.jsonl"))}
    assert consensus["a-txt-08"]["label"] == "negative" and consensus["a-txt-08"]["status"] == "reviewed"
    assert "a-txt-08" not in {r["item_id"] for r in jsonl(project.path("annotations/review.jsonl"))}
    bad = {**correction, "label": "furious"}
    project.path("annotations/corrections.jsonl").write_text(json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"annotations/corrections.jsonl:1: \$.label: 'furious' is not one of"):
        run_agree(project)


def test_agree_review_gate_holds_flagged_items(bare_project):
    project = pulled(bare_project, "textcls", quality={"review_gate": True, "spot_check_rate": 0.0})
    run_agree(project)
    consensus = {c["item_id"]: c for c in jsonl(project.path("annotations/consensus.jsonl"))}
    assert consensus["a-txt-08"]["status"] == "held"
    assert consensus["a-txt-01"]["status"] == "accepted"


def test_agree_outputs_pass_dlp_validate(bare_project, monkeypatch):
    project = pulled(bare_project, "ner")
    run_agree(project)
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert "annotations/annotations.jsonl" in result.output
    explicit = CliRunner().invoke(app, ["validate", "annotations/consensus.jsonl", "annotations/review.jsonl"])
    assert explicit.exit_code == 0, explicit.output


def test_agree_output_is_byte_identical_on_rerun(bare_project):
    project = pulled(bare_project, "imgcls")
    run_agree(project)
    names = ["annotations/consensus.jsonl", "annotations/review.jsonl", "metrics/agreement.json",
             "metrics/annotators.json", "reports/agreement.json", "plots/agreement_trend.json"]
    first = {n: project.path(n).read_bytes() for n in names}
    run_agree(project)
    assert {n: project.path(n).read_bytes() for n in names} == first


def test_gate_passes_and_fails_with_exit_3(bare_project, monkeypatch):
    project = pulled(bare_project, "textcls", quality={"agreement_threshold": 0.1})
    run_agree(project)
    assert run_gate(project)[0] == "quality gate passed:"
    strict = pulled(bare_project, "imgcls", quality={"agreement_threshold": 0.99, "min_annotator_kappa": 0.9,
                                                     "gate_annotators": True})
    run_agree(strict)
    with pytest.raises(GateFailed) as err:
        run_gate(strict)
    text = str(err.value)
    assert text.startswith("quality gate failed:")
    assert "krippendorff_alpha 0." in text and "is below the threshold 0.99" in text
    assert re.search(r"kappa_vs_consensus of ann\d@example.com 0\.\d+ is below the minimum 0.9", text)
    monkeypatch.chdir(strict.root)
    result = CliRunner().invoke(app, ["gate"])
    assert result.exit_code == 3
    assert "is below the threshold 0.99" in result.output


def test_gate_undefined_metric_policy():
    reasons = {"fleiss_kappa": "fewer than two annotators"}
    failed = evaluate_gate({"fleiss_kappa": None}, {}, metric="fleiss_kappa", threshold=0.5, reasons=reasons)
    assert failed.failures == ["fleiss_kappa is undefined (fewer than two annotators); "
                               "set quality.on_undefined to warn or pass to allow it"]
    warned = evaluate_gate({"fleiss_kappa": None}, {}, metric="fleiss_kappa", threshold=0.5, on_undefined="warn")
    assert warned.passed and warned.warnings == ["fleiss_kappa is undefined"]
    assert evaluate_gate({"fleiss_kappa": None}, {}, metric="fleiss_kappa", threshold=0.5, on_undefined="pass").passed


def test_gate_without_agree_outputs_says_what_to_run(bare_project, monkeypatch):
    project = pulled(bare_project, "textcls")
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["gate"])
    assert result.exit_code == 1
    assert "metrics/agreement.json is missing; run dvc repro" in result.output


def test_quality_assurance_facade(tmp_path):
    qa = QualityAssurance(classes=["positive", "negative", "neutral"], review_queue=tmp_path / "queue.jsonl")
    records = qa.load_annotations(LS / "textcls.export.json")
    ann1 = [r for r in records if r["annotator"] == "ls-user-2"]
    ann3 = [r for r in records if r["annotator"] == "ls-user-4"]
    result = qa.compute_agreement(ann1, ann3)
    assert result["n_items"] == 7
    assert result["disagreements"] == [{"item_id": "a-txt-03", "label_a": "neutral", "label_b": "positive"},
                                       {"item_id": "a-txt-08", "label_a": "neutral", "label_b": "positive"}]
    assert result["percent_agreement"] == pytest.approx(5 / 7)
    from sklearn.metrics import cohen_kappa_score

    shared = sorted({r["item_id"] for r in ann1} & {r["item_id"] for r in ann3})
    a = {r["item_id"]: r["label"] for r in ann1}
    b = {r["item_id"]: r["label"] for r in ann3}
    expected = cohen_kappa_score([a[i] for i in shared], [b[i] for i in shared],
                                 labels=["positive", "negative", "neutral"])
    assert result["cohens_kappa"] == pytest.approx(expected)
    assert qa.flag_for_review(result["disagreements"], reason="disagreement") == 2
    assert qa.flag_for_review(result["disagreements"], reason="disagreement") == 0
    queue = jsonl(tmp_path / "queue.jsonl")
    assert [q["item_id"] for q in queue] == ["a-txt-03", "a-txt-08"]
    assert queue[0]["reasons"] == ["disagreement"]
    ours = tmp_path / "ours.jsonl"
    ours.write_text("".join(json.dumps(r) + "\n" for r in ann1), encoding="utf-8")
    assert qa.load_annotations(ours) == ann1


@pytest.mark.parametrize("scale", ["nominal", "ordinal", "interval"])
def test_agree_follows_the_label_scale_of_the_schema(scale):
    import krippendorff
    import numpy as np

    from data_labeling_pipeline.quality.agree import AgreeOptions, agree

    rng = np.random.default_rng(0)
    annotations, matrix = [], np.full((3, 60), np.nan)
    for i in range(60):
        true = rng.integers(1, 6)
        for a in range(3):
            value = int(np.clip(true + rng.integers(-1, 2), 1, 5))
            matrix[a, i] = value
            annotations.append({"item_id": f"i{i:02d}", "annotator": f"a{a}", "label": str(value)})
    options = AgreeOptions(task_type="text_classification", classes=[str(c) for c in range(1, 6)], scale=scale,
                           n_resamples=0)
    result = agree(annotations, item_ids=[f"i{i:02d}" for i in range(60)], options=options)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement=scale, value_domain=[1, 2, 3, 4, 5])
    assert result.metrics["krippendorff_alpha"] == pytest.approx(expected, abs=1e-6)
    assert result.report["cohens_kappa_weights"] == {"nominal": None, "ordinal": "linear", "interval": "quadratic"}[scale]


def test_agree_interval_scale_needs_numeric_classes():
    from data_labeling_pipeline.errors import ConfigError
    from data_labeling_pipeline.labels import check_label_schema

    schema = {"task_type": "text_classification", "schema_version": 1, "scale": "interval",
              "classes": [{"id": 1, "name": "low"}, {"id": 2, "name": "high"}]}
    with pytest.raises(ConfigError, match=r"\$.scale: interval scale needs numeric class names"):
        check_label_schema(schema, "schema/labels.yaml")
    check_label_schema({**schema, "scale": "ordinal"}, "schema/labels.yaml")


def test_agree_with_no_annotations_writes_an_empty_confusion_table(bare_project):
    task_type, classes = PROJECTS["textcls"]
    project = bare_project(task_type, classes)
    run_pull(project)
    run_agree(project)
    folder = project.path("plots/confusion")
    assert [p.name for p in folder.iterdir()] == ["none.json"]
    assert json.loads((folder / "none.json").read_text()) == []
    metrics = json.loads(project.path("metrics/agreement.json").read_text())
    assert metrics["n_annotations"] == 0


def test_gate_on_a_project_without_annotations_says_so(bare_project, monkeypatch):
    task_type, classes = PROJECTS["textcls"]
    project = bare_project(task_type, classes)
    run_pull(project)
    run_agree(project)
    monkeypatch.chdir(project.root)
    failed = CliRunner().invoke(app, ["gate"])
    assert failed.exit_code == 3
    assert "krippendorff_alpha is undefined (no annotations yet: label some items" in failed.output
    assert "Traceback" not in failed.output
    params = project.path("params.yaml")
    params.write_text(params.read_text("utf-8").replace("on_undefined: fail", "on_undefined: warn"), "utf-8")
    warned = CliRunner().invoke(app, ["gate"])
    assert warned.exit_code == 0, warned.output
    assert "no annotations yet" in warned.output


TOPICS = ["sports", "politics", "tech"]
WORDS = {"sports": ["goal", "match", "team"], "politics": ["vote", "senate", "law"], "tech": ["chip", "code", "cloud"]}


def multilabel_export(n_items=40, n_annotated=36):
    """A Label Studio JSON export of a multi-label text project: several choices per result, two annotators.

    Item t has the topics of its low three bits; on every 7th item (from the 4th) ann2 leaves out the
    last topic (a per-class tie of two annotators). Items without a topic are explicit empty answers.
    """
    tasks = []
    for t in range(n_items):
        topics = [c for k, c in enumerate(TOPICS) if (t >> k) & 1]
        text = " ".join(w for c in topics for w in WORDS[c][: 1 + t % 3]) + f" story {t}"
        annotations = []
        for j, email in enumerate(("ann1@example.com", "ann2@example.com")):
            chosen = topics[:-1] if t % 7 == 3 and j == 1 else topics
            result = [{"id": f"r{t}-{j}", "type": "choices", "from_name": "label", "to_name": "text",
                       "value": {"choices": chosen}}] if chosen else []
            annotations.append({"id": 100 + 2 * t + j, "completed_by": {"id": 2 + j, "email": email},
                                "result": result, "was_cancelled": False, "ground_truth": False,
                                "created_at": f"2026-11-28T13:{t:02d}:0{j}Z", "lead_time": 2.0 + j})
        tasks.append({"id": t + 1, "data": {"text": text, "item_id": f"m{t:03d}"},
                      "annotations": annotations if t < n_annotated else [], "predictions": []})
    return tasks


def test_agree_multilabel_project_runs_pull_prelabel_agree_select_export(bare_project):
    import datasets

    from data_labeling_pipeline.labels import new_label_schema
    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.repo.scaffold import labels_yaml
    from data_labeling_pipeline.stages.export import run_export
    from data_labeling_pipeline.stages.prelabel import run_prelabel
    from data_labeling_pipeline.stages.select import QUEUE, run_select

    project = bare_project("text_classification", TOPICS, prelabel={"min_labels": 10},
                           export={"formats": ["huggingface", "csv"]})
    project.path("schema/labels.yaml").write_text(
        labels_yaml(new_label_schema("text_classification", TOPICS, multi_label=True)), encoding="utf-8")
    project = Project(project.root)
    project.path("inbox/export.json").write_text(json.dumps(multilabel_export()), encoding="utf-8")
    correction = {"item_id": "m003", "annotator": "lead@example.com", "schema_version": 1,
                  "labels": ["tech", "sports"], "created_at": "2026-12-01T10:00:00Z"}
    project.path("annotations/corrections.jsonl").write_text(json.dumps(correction) + "\n", encoding="utf-8")
    run_pull(project)
    assert all("labels" in a and "label" not in a for a in jsonl(project.path("annotations/annotations.jsonl")))

    prelabel = run_prelabel(project)
    assert prelabel.metrics["trained"] == 1 and prelabel.metrics["items_predicted"] == 40
    run_agree(project)
    consensus = {c["item_id"]: c for c in jsonl(project.path("annotations/consensus.jsonl"))}
    assert len(consensus) == 36 and all("labels" in c and "label" not in c for c in consensus.values())
    assert consensus["m006"]["labels"] == ["politics", "tech"] and consensus["m006"]["status"] == "accepted"
    assert consensus["m000"]["labels"] == []  # both answered "none of them"
    assert consensus["m003"]["labels"] == ["sports", "tech"] and consensus["m003"]["status"] == "reviewed"
    # m031 has all three topics; ann2 left out tech: a tie on tech, flagged with the class named.
    assert consensus["m031"]["labels"] == ["sports", "politics"] and consensus["m031"]["tied_classes"] == ["tech"]
    assert "tie" in consensus["m031"]["reasons"] and consensus["m031"]["status"] == "flagged"
    review = {r["item_id"]: r for r in jsonl(project.path("annotations/review.jsonl"))}
    assert "tie" in review["m031"]["reasons"] and review["m031"]["labels"] == ["sports", "politics"]
    assert review["m037"]["reasons"] == ["too_few_annotators"]

    metrics = json.loads(project.path("metrics/agreement.json").read_text("utf-8"))
    assert metrics["multi_label"] == 1 and metrics["n_items"] == 36 and metrics["n_annotators"] == 2
    for name in ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement"):
        per_class = metrics["per_class"][name]
        assert set(per_class) == set(TOPICS)
        assert metrics[name] == pytest.approx(sum(per_class.values()) / 3, abs=1e-6), name
    assert 0 < metrics["jaccard_agreement"] < 1 and 0 < metrics["exact_match_agreement"] < 1
    assert run_gate(project)[0] == "quality gate passed:"
    annotators = json.loads(project.path("metrics/annotators.json").read_text("utf-8"))
    assert annotators["ann1@example.com"]["kappa_vs_consensus"] is not None
    assert annotators["ann1@example.com"]["jaccard_vs_annotators"] == {
        "ann2@example.com": metrics["jaccard_agreement"]}
    assert sorted(p.name for p in project.path("plots/confusion").iterdir()) == [
        "ann1@example.com.json", "ann2@example.com.json"]

    run_select(project)
    assert {r["item_id"] for r in jsonl(project.path(QUEUE))} == {"m036", "m037", "m038", "m039"}
    summary = run_export(project)
    assert summary.exported == 36
    hf = datasets.load_from_disk(str(project.path("labeled_data/huggingface")))
    rows = {r["item_id"]: r for split in hf.values() for r in split}
    names = hf["train"].features["labels"].feature.names
    assert [names[k] for k in rows["m006"]["labels"]] == ["politics", "tech"] and rows["m000"]["labels"] == []
    header = project.path("labeled_data/csv/train.csv").read_text("utf-8").splitlines()[0]
    assert header == "item_id,text,label:sports,label:politics,label:tech"


def crowd_export(n_tasks=600, n_annotators=12, per_task=3, seed=0):
    """A Label Studio default export of a crowd of varied accuracy (3 annotators per task)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    classes = PROJECTS["textcls"][1]
    accuracy = np.linspace(0.45, 0.95, n_annotators)
    tasks, annotation_id = [], 0
    for t in range(n_tasks):
        truth = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
        annotations = []
        for who in rng.choice(n_annotators, per_task, replace=False).tolist():
            label = truth if rng.random() < accuracy[who] else int((truth + rng.integers(1, 3)) % 3)
            annotation_id += 1
            annotations.append({"id": annotation_id, "completed_by": who + 1, "task": t + 1, "project": 1,
                                "result": [{"type": "choices", "from_name": "sentiment", "to_name": "text",
                                            "value": {"choices": [classes[label]]}}],
                                "created_at": f"2026-11-01T10:{t % 60:02d}:{annotation_id % 60:02d}Z"})
        tasks.append({"id": t + 1, "project": 1, "data": {"text": f"text {t}"}, "annotations": annotations})
    return tasks


@pytest.mark.slow
def test_agree_dask_engine_writes_the_bytes_of_a_local_run(bare_project):
    """quality.engine: dask fits Dawid-Skene over item shards on a LocalCluster: same outputs, byte for byte."""
    outputs = {}
    for engine in ("local", "dask"):
        project = bare_project(*PROJECTS["textcls"], quality={"engine": engine, "shards": 3})
        project.path("inbox/export.json").write_text(json.dumps(crowd_export()), encoding="utf-8")
        run_pull(project)
        run_agree(project)
        outputs[engine] = {p.relative_to(project.root).as_posix(): p.read_bytes()
                           for folder in ("annotations", "metrics", "reports", "plots")
                           for p in sorted(project.path(folder).rglob("*")) if p.is_file()}
        shutil.rmtree(project.root)  # the next engine's project takes the same folder
    assert outputs["dask"] == outputs["local"]
    consensus = jsonl_bytes(outputs["dask"]["annotations/consensus.jsonl"])
    assert len(consensus) == 600 and {c["method"] for c in consensus} == {"dawid_skene"}


def jsonl_bytes(raw):
    return [json.loads(line) for line in raw.decode("utf-8").splitlines()]
