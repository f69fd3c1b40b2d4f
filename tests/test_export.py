"""The export stage, `dlp export --verify`, `dlp convert` and the seed's FormatConverter."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.errors import ConfigError, DataError
from data_labeling_pipeline.stages.agree import run_agree
from data_labeling_pipeline.stages.export import run_export
from data_labeling_pipeline.stages.pull import run_pull
from data_labeling_pipeline.utils import FormatConverter

LS = Path(__file__).parent / "assets" / "labelstudio"
PROJECTS = {
    "imgcls": ("image_classification", ["cat", "dog", "bird", "other"], ["coco", "csv", "huggingface",
                                                                         "label_studio"]),
    "textcls": ("text_classification", ["positive", "negative", "neutral"], ["spacy", "csv", "huggingface"]),
    "ner": ("ner", ["PER", "ORG", "LOC", "DATE"], ["spacy", "csv", "huggingface", "label_studio"]),
    "bbox": ("bbox", ["car", "person", "bicycle"], ["coco", "voc", "yolo", "csv", "huggingface", "label_studio"]),
}


def exported(bare_project, key, *, verify=True, **export):
    task_type, classes, formats = PROJECTS[key]
    project = bare_project(task_type, classes, export={"formats": formats, **export},
                           quality={"spot_check_rate": 0.0})
    shutil.copy(LS / f"{key}.snapshot.json", project.path("inbox") / "export.json")
    if task_type in ("image_classification", "bbox"):
        shutil.copytree(LS / "images", project.path("images"))
    run_pull(project)
    run_agree(project)
    summary = run_export(project, verify=verify)
    return project, summary


@pytest.mark.parametrize("key", sorted(PROJECTS))
def test_export_writes_and_verifies_every_format(bare_project, key):
    project, summary = exported(bare_project, key)
    assert sorted(summary.formats) == sorted(PROJECTS[key][2])
    for name in PROJECTS[key][2]:
        report = json.loads((project.path("labeled_data") / name / "export_report.json").read_text())
        written = sum(c["out"] for c in report["items"].values())
        assert written == summary.exported
    metrics = json.loads(project.path("metrics/export.json").read_text())
    assert metrics["items_exported"] == summary.exported
    # The task with no annotation at all (imgcls, ner and bbox have one) is not exported.
    assert metrics["items_unlabeled"] == (0 if key == "textcls" else 1)


def test_export_coco_loads_in_pycocotools_with_schema_ids(bare_project):
    from pycocotools.coco import COCO

    project, _ = exported(bare_project, "bbox")
    files = sorted((project.path("labeled_data/coco/annotations")).glob("instances_*.json"))
    coco = [COCO(str(f)) for f in files]
    cats = {c["id"]: c["name"] for c in coco[0].loadCats(coco[0].getCatIds())}
    assert cats == {1: "car", 2: "person", 3: "bicycle"}
    assert sum(len(c.getImgIds()) for c in coco) == 7
    # a-box-05: the consensus is an explicit negative; its image is kept without annotations.
    images = [img for c in coco for img in c.loadImgs(c.getImgIds()) if "a-box-05" in img["file_name"]]
    assert len(images) == 1


def test_export_yolo_layout_and_labels(bare_project):
    project, _ = exported(bare_project, "bbox")
    root = project.path("labeled_data/yolo")
    data = (root / "data.yaml").read_text()
    assert "names:" in data and "car" in data
    labels = sorted(root.glob("labels/*/*.txt"))
    assert len(labels) == 7
    for path in labels:
        for line in path.read_text().splitlines():
            cls, *coords = line.split()
            assert 0 <= int(cls) < 3 and all(0 <= float(v) <= 1 for v in coords)


def test_export_spacy_docbin_and_hf_load(bare_project):
    import datasets
    import spacy
    from spacy.tokens import DocBin

    project, summary = exported(bare_project, "ner")
    nlp = spacy.blank("xx")
    docs = [d for f in sorted(project.path("labeled_data/spacy").glob("*.spacy"))
            for d in DocBin().from_disk(f).get_docs(nlp.vocab)]
    assert len(docs) == summary.exported
    assert sum(len(d.ents) for d in docs) > 10
    hf = datasets.load_from_disk(str(project.path("labeled_data/huggingface")))
    assert set(hf) == {"train", "validation"}
    tags = hf["train"].features["ner_tags"].feature.names
    assert tags[0] == "O" and "B-PER" in tags and "I-DATE" in tags


def test_export_held_items_stay_out_until_reviewed(bare_project):
    project, summary = exported(bare_project, "textcls", verify=False)
    free = summary.exported
    project.path("params.yaml").write_text(project.path("params.yaml").read_text().replace(
        "review_gate: false", "review_gate: true"))
    project.__dict__.pop("params", None)
    run_agree(project)
    summary = run_export(project)
    assert summary.held > 0 and summary.exported == free - summary.held


def test_export_split_is_stable_when_items_are_added(bare_project):
    from data_labeling_pipeline.formats import assign_split

    ids = [f"item-{n}" for n in range(500)]
    first = assign_split(ids, val_fraction=0.15, seed=0)
    second = assign_split(ids + [f"new-{n}" for n in range(100)], val_fraction=0.15, seed=0)
    assert all(second[i] == first[i] for i in ids)
    assert 0.1 < sum(v == "val" for v in first.values()) / len(ids) < 0.2


def test_export_fail_on_loss_keeps_previous_export(bare_project):
    project, _ = exported(bare_project, "ner", verify=False)
    before = {p: p.read_bytes() for p in sorted(project.path("labeled_data").rglob("*")) if p.is_file()}
    project.path("params.yaml").write_text(project.path("params.yaml").read_text().replace(
        "fail_on_loss: false", "fail_on_loss: true"))
    project.__dict__.pop("params", None)
    # Nested spans (a-ner-03: ORG 'University of Oslo' holds LOC 'Oslo') cannot both be BIO tags.
    consensus = project.path("annotations/consensus.jsonl")
    lines = [json.loads(x) for x in consensus.read_text().splitlines()]
    for record in lines:
        if record["item_id"] == "a-ner-03":
            record["spans"].append({"start": 18, "end": 22, "label": "LOC"})
    consensus.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(DataError, match=r"params.yaml: \$.export.fail_on_loss: the export lost data: "):
        run_export(project)
    after = {p: p.read_bytes() for p in sorted(project.path("labeled_data").rglob("*")) if p.is_file()}
    assert after == before


def test_export_format_that_cannot_carry_the_task_is_a_config_error(bare_project):
    with pytest.raises(ConfigError, match=r"\$.export.formats\[0\]: yolo cannot carry ner labels"):
        bare_project("ner", ["PER"], export={"formats": ["yolo"]}).params  # noqa: B018


def test_export_is_byte_identical_on_rerun(bare_project):
    project, _ = exported(bare_project, "bbox", verify=False)
    files = lambda: {p.relative_to(project.root).as_posix(): p.read_bytes()  # noqa: E731
                     for p in sorted(project.path("labeled_data").rglob("*")) if p.is_file()}
    first = files()
    run_export(project)
    assert files() == first


def test_convert_label_studio_to_coco_and_yolo_with_cli(tmp_path):
    out = tmp_path / "yolo"
    result = CliRunner().invoke(app, ["convert", str(LS / "bbox.snapshot.json"), "--from", "label_studio",
                                      "--to", "yolo", "--out", str(out), "--image-dir", str(LS)])
    assert result.exit_code == 0, result.output
    assert "converted label_studio -> yolo" in result.output
    # 8 tasks, one never annotated: it has no label to carry (not a background image).
    assert (out / "data.yaml").exists() and len(list(out.glob("labels/*/*.txt"))) == 7
    assert "unlabeled_skipped 1" in result.output
    report = FormatConverter().convert(out, "yolo", tmp_path / "coco", "coco", image_dir=out)
    assert sum(c["out"] for c in report["items"].values()) == 7


def test_convert_refuses_paths_that_escape_the_image_dir(tmp_path):
    coco = {"images": [{"id": 1, "file_name": "../../etc/passwd.png", "width": 4, "height": 4}],
            "annotations": [], "categories": [{"id": 1, "name": "car"}]}
    source = tmp_path / "in.json"
    source.write_text(json.dumps(coco))
    result = CliRunner().invoke(app, ["convert", str(source), "--from", "coco", "--to", "csv",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "escapes the image folder" in result.output
    assert not (tmp_path / "out").exists()


def test_convert_rebase_paths_makes_absolute_paths_relative(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    coco = {"images": [{"id": 1, "file_name": str(images / "a.png"), "width": 4, "height": 4}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 4,
                             "iscrowd": 0}],
            "categories": [{"id": 1, "name": "car"}]}
    source = tmp_path / "in.json"
    source.write_text(json.dumps(coco))
    refused = CliRunner().invoke(app, ["convert", str(source), "--from", "coco", "--to", "csv",
                                       "--out", str(tmp_path / "a"), "--image-dir", str(images)])
    assert refused.exit_code == 1 and "absolute path" in refused.output
    ok = CliRunner().invoke(app, ["convert", str(source), "--from", "coco", "--to", "csv", "--out",
                                  str(tmp_path / "b"), "--image-dir", str(images), "--rebase-paths"])
    assert ok.exit_code == 0, ok.output
    assert "a.png" in "".join(p.read_text() for p in (tmp_path / "b").glob("*.csv"))


def test_format_converter_seed_examples_on_label_studio_export(tmp_path):
    converter = FormatConverter()
    report = converter.convert(LS / "imgcls.snapshot.json", "label_studio", tmp_path / "coco", "coco",
                               image_dir=LS)
    assert report["items"]["train"]["out"] == 7 and report["events"] == {"unlabeled_skipped": 1}
    converter.to_huggingface(LS / "textcls.export.json", tmp_path / "hf")
    import datasets

    hf = datasets.load_from_disk(str(tmp_path / "hf"))
    # Without declared classes, the order in which labels first appear in the export.
    assert hf["train"].features["label"].names == ["positive", "negative", "neutral"]


def test_format_converter_push_to_hub_is_never_silent(tmp_path):
    with pytest.raises(Exception, match="repo_id"):
        FormatConverter().to_huggingface(LS / "textcls.export.json", tmp_path / "hf", push_to_hub=True)


def _export_files(project) -> dict[str, bytes]:
    files = {p.relative_to(project.root).as_posix(): p.read_bytes()
             for p in sorted(project.path("labeled_data").rglob("*")) if p.is_file()}
    files["metrics/export.json"] = project.path("metrics/export.json").read_bytes()
    return files


@pytest.mark.parametrize("key", ["textcls", "ner", "imgcls"])
def test_export_streamed_csv_and_hf_equal_the_in_memory_export(bare_project, monkeypatch, key):
    from data_labeling_pipeline.stages import export

    project, streamed = exported(bare_project, key, verify=True, formats=["csv", "huggingface"])
    assert export._streamable(project)
    assert export._streamed_dataset(project)[2] == streamed.exported  # the files stream as they are
    first = _export_files(project)
    monkeypatch.setattr(export, "_streamable", lambda project: False)
    in_memory = run_export(project)
    assert _export_files(project) == first
    assert (streamed.exported, streamed.held, streamed.unlabeled, streamed.estimated_accuracy) == (
        in_memory.exported, in_memory.held, in_memory.unlabeled, in_memory.estimated_accuracy)
    assert streamed.formats == in_memory.formats


def test_export_streamed_reads_unsorted_or_duplicated_files_as_the_in_memory_export_does(bare_project):
    from data_labeling_pipeline.stages import export

    project, _ = exported(bare_project, "textcls", verify=False, formats=["csv", "huggingface"])
    first = _export_files(project)
    consensus = project.path("annotations/consensus.jsonl")
    lines = consensus.read_bytes().splitlines(keepends=True)
    consensus.write_bytes(b"".join(reversed(lines)))  # out of order: the in-memory path sorts
    with pytest.raises(export._NotStreamable):
        export._streamed_dataset(project)
    run_export(project)
    assert _export_files(project) == first
    items = project.path("annotations/items.jsonl")
    item_lines = items.read_bytes().splitlines(keepends=True)
    items.write_bytes(b"".join(item_lines + item_lines[:1]))
    with pytest.raises(DataError, match=r"annotations/items.jsonl:\d+.*appears twice|duplicate"):
        run_export(project)
    assert _export_files(project) == first  # nothing half-written


def test_export_streamed_names_a_consensus_label_outside_the_schema(bare_project):
    project, _ = exported(bare_project, "textcls", verify=False, formats=["csv", "huggingface"])
    consensus = project.path("annotations/consensus.jsonl")
    rows = [json.loads(line) for line in consensus.read_text().splitlines()]
    labelled = next(r for r in rows if r.get("label"))
    labelled["label"] = "sarcastic"
    consensus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"'sarcastic' is not a class of the label schema"):
        run_export(project)
