"""The verify helpers find what is broken (and nothing in our own output)."""

from __future__ import annotations

import json

from fmt_golden import load_case

from data_labeling_pipeline.formats import write_coco, write_spacy, write_voc, write_yolo
from data_labeling_pipeline.formats.verify import verify_coco, verify_hf, verify_spacy, verify_voc, verify_yolo


def test_verify_coco_finds_duplicate_ids_and_bad_references(tmp_path):
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 9, "bbox": [0, 0, 20, 5], "iscrowd": 0},
                            {"id": 5, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 0}],
            "categories": [{"id": 1, "name": "x"}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(coco))
    problems = "\n".join(verify_coco(path))
    for part in ("annotations: ids are not unique", "category_id 9", "outside the 10x10 image", "image_id 2"):
        assert part in problems


def test_verify_yolo_finds_what_ultralytics_rejects(tmp_path):
    write_yolo(load_case("bbox"), tmp_path, link="none")
    (tmp_path / "images" / "train" / "street.png").write_bytes(b"")
    (tmp_path / "labels" / "train" / "street.txt").write_text("3 0.5 0.5 0.1 0.1\n0 0.5 1.5 0.1 0.1\n")
    (tmp_path / "images" / "val" / "lonely.jpg").write_bytes(b"")
    problems = "\n".join(verify_yolo(tmp_path))
    assert "class 3 is not < nc = 3" in problems
    assert "must be in [0, 1]" in problems
    assert "images/val/lonely.jpg: no label file" in problems
    assert "labels/train/empty.txt: label file without an image" in problems


def test_verify_voc_finds_boxes_out_of_bounds(tmp_path):
    write_voc(load_case("bbox"), tmp_path)
    path = tmp_path / "Annotations" / "street.xml"
    path.write_text(path.read_text("utf-8").replace("<xmax>260</xmax>", "<xmax>641</xmax>"), encoding="utf-8")
    assert verify_voc(tmp_path) == ["street.xml: object 0: box 41,201,641,340 outside 1..640 x 1..480"]


def test_verify_spacy_finds_a_wrong_entity_count(tmp_path):
    write_spacy(load_case("ner"), tmp_path)
    assert verify_spacy(tmp_path / "train.spacy", expected_entities=5) == [
        f"{tmp_path / 'train.spacy'}: 4 entities, expected 5"]
    assert verify_spacy(tmp_path / "nope.spacy")[0].startswith("DocBin cannot load")


def test_verify_hf_and_coco_report_unreadable_paths(tmp_path):
    assert verify_hf(tmp_path / "missing")[0].startswith("load_from_disk cannot read")
    write_coco(load_case("bbox"), tmp_path / "coco")
    assert verify_coco(tmp_path / "coco" / "annotations" / "instances_val.json") == []
