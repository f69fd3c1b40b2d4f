"""`dlp quickstart` end to end: real git, real dvc, offline."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app

# One worker builds this module's shared repository once (xdist would build it on each).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("quickstart")]


def true_labels(root) -> dict[str, str]:
    """The simulation's true digit of each item, in the current class names (round 3 renames 0 -> zero)."""
    import yaml

    from data_labeling_pipeline.migrations import current_label

    schema = yaml.safe_load((root / "schema/labels.yaml").read_text("utf-8"))
    return {i: current_label(schema, name, 1) for i, name in
            json.loads((root / "demo_truth.json").read_text("utf-8")).items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("qs") / "demo"
    result = CliRunner().invoke(app, ["quickstart", str(root)])
    assert result.exit_code == 0, result.output
    return root, result.output


def test_quickstart_runs_the_pipeline_and_reports(demo):
    root, output = demo
    assert "1797 digit images" in output and "of 300 of them" in output
    annotations = [json.loads(x) for x in (root / "annotations/annotations.jsonl").read_text("utf-8").splitlines()]
    metrics = json.loads((root / "metrics/pull.json").read_text("utf-8"))
    assert metrics["annotations"] == len(annotations) > 900
    assert {a["annotator"] for a in annotations} == {"ann1@example.com", "ann2@example.com", "ann3@example.com"}
    assert f"pull:   {len(annotations)} annotations by 3 annotators on 400 items" in output  # 300 + the batch
    assert "agree:  krippendorff_alpha 0." in output
    assert "prelabel: weak model (image features + logistic regression) cross-validated accuracy 0." in output
    assert "1797 items pre-labelled" in output
    assert "estimated accuracy of the exported labels 0." in output
    agreement = json.loads((root / "metrics/agreement.json").read_text())
    assert agreement["n_annotations"] == len(annotations) and agreement["passes"] == 1


def test_quickstart_second_round_labels_the_selected_batch_and_shows_the_gain(demo):
    root, output = demo
    batch = json.loads((root / "inbox/export-batch-3.json").read_text("utf-8"))
    assert len(batch) == 100 and "Round 2: the annotators label the 100 items select queued" in output
    line = next(x for x in output.splitlines() if x.startswith("round 2:"))
    ours, random_batch = (float(x) for x in re.findall(r"(\d\.\d{3})", line)[:2])
    assert ours > random_batch  # the same simulation with a random batch of the same size, computed
    queue = [json.loads(x) for x in (root / "queue/next.jsonl").read_text("utf-8").splitlines()]
    labelled = {json.loads(x)["item_id"] for x in (root / "annotations/annotations.jsonl").read_text().splitlines()}
    assert len(queue) == 100 and not {q["item_id"] for q in queue} & labelled


def test_quickstart_review_queue_fits_the_budget_and_the_estimate_is_close(demo):
    root, _ = demo
    review = json.loads((root / "metrics/review.json").read_text("utf-8"))
    assert review["n_review"] - review["n_spot_check_outside_budget"] <= review["budget"] == round(0.15 * 400)
    truth = true_labels(root)
    consensus = [json.loads(x) for x in (root / "annotations/consensus.jsonl").read_text("utf-8").splitlines()]
    true_accuracy = sum(c["label"] == truth[c["item_id"]] for c in consensus) / len(consensus)
    # 400 items: the estimate is within three of its standard errors of the truth
    assert abs(review["estimated_accuracy_exported"] - true_accuracy) < 3 * review["estimated_accuracy_exported_se"]


def test_quickstart_consensus_beats_the_best_annotator(demo):
    root, _ = demo
    truth = true_labels(root)
    consensus = [json.loads(x) for x in (root / "annotations/consensus.jsonl").read_text("utf-8").splitlines()]
    accuracy = sum(c["label"] == truth[c["item_id"]] for c in consensus) / len(consensus)
    annotations = [json.loads(x) for x in (root / "annotations/annotations.jsonl").read_text("utf-8").splitlines()]
    best = max(sum(a["label"] == truth[a["item_id"]] for a in annotations if a["annotator"] == who)
               / sum(a["annotator"] == who for a in annotations) for who in {a["annotator"] for a in annotations})
    assert accuracy > best


def test_quickstart_annotators_have_their_known_accuracy(demo):
    root, _ = demo
    truth = true_labels(root)
    hits: dict[str, list[bool]] = {}
    for line in (root / "annotations/annotations.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        hits.setdefault(record["annotator"], []).append(record["label"] == truth[record["item_id"]])
    accuracy = {who: sum(h) / len(h) for who, h in hits.items()}
    assert accuracy["ann1@example.com"] > accuracy["ann2@example.com"] > accuracy["ann3@example.com"]
    assert abs(accuracy["ann1@example.com"] - 0.95) < 0.05 and abs(accuracy["ann3@example.com"] - 0.70) < 0.08


def test_quickstart_leaves_a_clean_committed_repo(demo, tool_env):
    root, _ = demo
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
    assert status == ""
    dvc = subprocess.run(["dvc", "status"], cwd=root, capture_output=True, text=True)
    assert "up to date" in dvc.stdout


@pytest.fixture(scope="module")
def demo_in_a_checkout(tmp_path_factory):
    """A second quickstart, run inside a git checkout that has no commit yet."""
    outer = tmp_path_factory.mktemp("checkout")
    subprocess.run(["git", "init", "-q", "-b", "main", str(outer)], check=True)
    result = CliRunner().invoke(app, ["quickstart", str(outer / "demo"), "--quiet"])
    assert result.exit_code == 0, result.output
    return outer


def test_quickstart_is_deterministic(demo, demo_in_a_checkout):
    root, _ = demo
    other = demo_in_a_checkout / "demo"
    for name in ("annotations/annotations.jsonl", "annotations/items.jsonl", "inbox/export-batch-1.json",
                 "inbox/export-batch-2.json", "inbox/export-batch-3.json", "images/digit-0042.png", "dvc.lock",
                 "metrics/pull.json", "annotations/predictions.jsonl", "queue/next.jsonl", "metrics/review.json",
                 "annotations/corrections.jsonl", "schema/labels.yaml", "annotations/consensus.jsonl",
                 "metrics/baseline.json", "reports/dashboard.html"):
        assert (root / name).read_bytes() == (other / name).read_bytes(), name


def test_quickstart_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    result = CliRunner().invoke(app, ["quickstart", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "exists and is not empty" in result.output
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_quickstart_inside_a_checkout_makes_its_own_repository(demo_in_a_checkout):
    outer = demo_in_a_checkout
    assert (outer / "demo/.git").is_dir()
    outer_log = subprocess.run(["git", "log", "--oneline"], cwd=outer, capture_output=True, text=True)
    assert outer_log.returncode != 0  # the outer repository still has no commit


def test_quickstart_data_runs_the_seed_format_converter_examples(demo, tmp_path):
    import datasets
    from pycocotools.coco import COCO

    from data_labeling_pipeline.utils import FormatConverter

    root, _ = demo
    converter = FormatConverter()
    export = root / "inbox/export-batch-1.json"
    report = converter.convert(export, "label_studio", tmp_path / "coco", "coco", image_dir=root)
    coco = COCO(str(tmp_path / "coco/annotations/instances_train.json"))
    assert len(coco.getImgIds()) == report["items"]["train"]["out"] == 150  # the 150 tasks of batch 1
    digits = [str(d) for d in range(10)]
    converter.to_huggingface(export, tmp_path / "hf", image_dir=root, classes=digits)
    hf = datasets.load_from_disk(str(tmp_path / "hf"))
    assert hf["train"].num_rows == 150
    assert hf["train"].features["label"].names == digits


def test_quickstart_round_3_corrects_renames_commits_and_prints_the_label_diff(demo, tool_env):
    root, output = demo
    [correction] = [json.loads(x) for x in (root / "annotations/corrections.jsonl").read_text("utf-8").splitlines()]
    truth = true_labels(root)
    item = correction["item_id"]
    assert correction["label"] == json.loads((root / "demo_truth.json").read_text())[item]
    assert correction["note"].startswith("checked the image")
    consensus = {r["item_id"]: r for r in map(json.loads, (root / "annotations/consensus.jsonl").read_text().splitlines())}
    assert consensus[item]["label"] == truth[item]  # the correction wins
    labels = (root / "schema/labels.yaml").read_text("utf-8")
    assert "name: zero" in labels and "schema_version: 2" in labels
    assert {"zero"} <= {r.get("label") for r in consensus.values()} and "0" not in {r.get("label") for r in
                                                                                     consensus.values()}
    subjects = subprocess.run(["git", "log", "--format=%s"], cwd=root, capture_output=True, text=True).stdout
    assert subjects.splitlines()[0].startswith(f"quickstart round 3: correct {item}, rename class 0 -> zero")
    diff = output[output.index("(dlp diff HEAD~1 HEAD):"):]
    assert "| relabels | 0 |" in diff and "| consensus_flips | 1 |" in diff and "| corrections_added | 1 |" in diff
    assert correction["note"] in diff and correction["annotator"] in diff
    assert '"from": "0"' in diff and '"to": "zero"' in diff


def test_quickstart_dashboard_opens_offline_with_every_section_filled(demo, tmp_path):
    """The README's screenshot: DLP_DASHBOARD_SCREENSHOT=docs/dashboard.png writes it there."""
    import os
    from pathlib import Path

    from dashboard_browser import visit

    root, output = demo
    page = root / "reports/dashboard.html"
    assert f"report: the QA & review dashboard, one file that opens offline -> {page}" in output
    assert page.stat().st_size < 2_000_000
    shot = Path(os.environ.get("DLP_DASHBOARD_SCREENSHOT") or tmp_path / "dashboard.png")
    seen = visit(page, screenshot=shot)

    assert seen.console == [] and seen.requests == [page.resolve().as_uri()]  # no error, nothing fetched
    assert seen.sections == dict.fromkeys(("headline", "annotators", "pairwise", "confusion", "gaps", "queues",
                                           "prelabels", "economy", "exports"), True)  # every section has data
    for key, shown in seen.figures.items():  # each figure is the value of the metric it names
        path, _, dotted = key.partition(":")
        value = json.loads((root / path).read_text("utf-8"))
        for part in dotted.split("."):
            value = value[part]
        assert (None if shown["value"] == "null" else json.loads(shown["value"])) == value, key
    agreement = json.loads((root / "metrics/agreement.json").read_text("utf-8"))
    assert seen.figures["metrics/agreement.json:krippendorff_alpha"]["text"] == f"{agreement['krippendorff_alpha']:.3f}"
    assert "metrics/review.json:estimated_accuracy_exported" in seen.figures
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quickstart_dashboard_shows_the_rounds_and_the_random_batch(demo):
    root, _ = demo
    html = (root / "reports/dashboard.html").read_text("utf-8")
    log = subprocess.run(["git", "log", "--first-parent", "--format=%H %s"], cwd=root, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    round_1, round_2 = (next(line.split()[0] for line in log if f"quickstart round {n}:" in line) for n in (1, 2))
    assert round_1[:12] in html and round_2[:12] in html  # the label economy's earlier states
    baseline = json.loads((root / "metrics/baseline.json").read_text("utf-8"))["rounds"]
    assert [r["labelled_items"] for r in baseline] == [300, 400]
    assert baseline[1]["model_accuracy_vs_truth"] > baseline[1]["random_batch_accuracy_vs_truth"]
    assert f"{baseline[1]['random_batch_accuracy_vs_truth']:.3f}" in html
    assert "random batch instead (simulation)" in html  # drawn in the economy chart


def test_quickstart_commits_are_the_same_on_every_run(demo, demo_in_a_checkout):
    """Fixed commit dates: the dashboard shows commit ids, and it is a stage output."""
    ids = [subprocess.run(["git", "log", "--format=%H"], cwd=r, capture_output=True, text=True,
                          check=True).stdout for r in (demo[0], demo_in_a_checkout / "demo")]
    assert ids[0] == ids[1] and len(ids[0].split()) == 4
    assert (demo[0] / "reports/dashboard.html").read_bytes() == (demo_in_a_checkout / "demo/reports/dashboard.html"
                                                                  ).read_bytes()
