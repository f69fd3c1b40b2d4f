"""COCO writer and reader: golden files, pycocotools, ids, policies, unsafe paths."""

from __future__ import annotations

import json

import pytest
from fmt_golden import ASSETS, check_json, check_tree, load_case

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.formats import (
    LossReport,
    coco_extras,
    from_coco,
    make_dataset,
    read_coco,
    to_coco,
    write_coco,
)
from data_labeling_pipeline.formats.verify import verify_coco


@pytest.mark.parametrize("name", ["bbox", "imgcls"])
def test_coco_golden(tmp_path, name):
    report = write_coco(load_case(name), tmp_path / "out", version="v3", date_created="2026-11-28")
    check_tree(tmp_path / "out", "coco", name)
    check_json(report.as_dict(), "coco", name, "report.json")


@pytest.mark.parametrize("name", ["bbox", "imgcls"])
def test_coco_pycocotools_loads_our_output(tmp_path, name):
    write_coco(load_case(name), tmp_path)
    for split in ("train", "val"):
        assert verify_coco(tmp_path / f"annotations/instances_{split}.json") == []


def test_coco_keeps_sparse_category_ids_and_images_without_boxes(tmp_path):
    from pycocotools.coco import COCO

    write_coco(load_case("bbox"), tmp_path)
    coco = COCO(str(tmp_path / "annotations/instances_train.json"))
    assert [c["id"] for c in coco.dataset["categories"]] == [3, 17, 42]
    empty = [im for im in coco.dataset["images"] if im["file_name"] == "empty.png"][0]
    assert coco.getAnnIds(imgIds=[empty["id"]]) == []


def test_coco_keeps_image_id_from_item_meta():
    built = to_coco(load_case("bbox"))
    ids = {im["file_name"]: im["id"] for im in built["train"]["images"]}
    assert ids["street.png"] == 1000
    assert all(i > 1000 for name, i in ids.items() if name != "street.png")


def test_coco_round_trip_keeps_ids_area_segmentation_and_extras():
    src = {
        "info": {"year": 2017, "version": "1.0"},
        "licenses": [{"id": 1, "name": "CC"}],
        "images": [{"id": 500, "file_name": "a.jpg", "width": 50, "height": 40, "license": 1},
                   {"id": 7, "file_name": "b.jpg", "width": 10, "height": 10}],
        "annotations": [{"id": 77, "image_id": 500, "category_id": 9, "bbox": [1.5, 2, 10, 5], "area": 33.5,
                         "iscrowd": 0, "segmentation": [[1.5, 2, 11.5, 2, 11.5, 7]]},
                        {"id": 78, "image_id": 500, "category_id": 2, "bbox": [0, 0, 50, 40], "area": 2000,
                         "iscrowd": 1, "segmentation": []}],
        "categories": [{"id": 9, "name": "cat", "supercategory": "animal"}, {"id": 2, "name": "dog"}],
    }
    ds = from_coco(src, image_dir="data/img")
    assert ds.items[0]["data"]["image"] == "data/img/a.jpg"
    out = to_coco(ds, image_root="data/img", **coco_extras(src))["train"]
    assert out == src


def test_coco_crowd_policy_drop_counts_the_dropped_box():
    report = LossReport()
    built = to_coco(load_case("bbox", crowd="drop"), report=report)
    assert all(a["iscrowd"] == 0 for a in built["train"]["annotations"])
    assert report.lost()["crowd_dropped"] == 1


def test_coco_empty_images_drop_policy():
    report = LossReport()
    built = to_coco(load_case("bbox", empty_images="drop"), report=report)
    assert "empty.png" not in {im["file_name"] for im in built["train"]["images"]}
    assert report.lost()["empty_dropped"] == 1


def test_coco_image_classification_writes_categories_per_image():
    built = to_coco(load_case("imgcls"))
    anns = {a["image_id"]: a["category_id"] for a in built["train"]["annotations"]}
    files = {im["id"]: im["file_name"] for im in built["train"]["images"]}
    assert {files[i]: c for i, c in anns.items()}["img-1.png"] == 10
    assert all("bbox" not in a for a in built["train"]["annotations"])


def test_coco_refuses_ner():
    with pytest.raises(DataError, match="COCO export supports"):
        to_coco(load_case("ner"))


@pytest.mark.parametrize("name", ["../../etc/passwd.png", "a/../../x.png", "/etc/x.png", "..\\x.png", "C:\\x.png"])
def test_coco_refuses_image_paths_escaping_the_root(name):
    coco = {"images": [{"id": 1, "file_name": name, "width": 4, "height": 4}], "annotations": [],
            "categories": [{"id": 1, "name": "a"}]}
    with pytest.raises(DataError, match="file_name"):
        from_coco(coco)


def test_coco_refuses_label_studio_export_paths():
    # Label Studio writes file_name relative to its temp folder ('../../data/images/...').
    coco = json.loads((ASSETS / "labelstudio_coco.json").read_text("utf-8"))
    with pytest.raises(DataError, match="escapes the image folder"):
        from_coco(coco)


def test_coco_rebase_paths_makes_absolute_paths_inside_relative():
    coco = {"images": [{"id": 1, "file_name": "/data/coco/train/x.png", "width": 4, "height": 4}],
            "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    ds = from_coco(coco, rebase_paths="/data/coco", image_dir="images")
    assert ds.items[0]["data"]["image"] == "images/train/x.png"
    with pytest.raises(DataError, match="not inside rebase_paths"):
        from_coco(coco, rebase_paths="/data/other")


def test_coco_refuses_duplicate_image_ids_in_records():
    items = [{"item_id": k, "data": {"image": f"{k}.png", "width": 5, "height": 5}, "meta": {"coco_image_id": 1}}
             for k in ("a", "b")]
    schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False, "classes": [{"id": 1, "name": "x"}]}
    ds = make_dataset(items, {"a": {"boxes": []}, "b": {"boxes": []}}, schema)
    with pytest.raises(DataError, match="image id 1 is also"):
        to_coco(ds)


def test_coco_read_folder_restores_splits(tmp_path):
    ds = load_case("bbox")
    write_coco(ds, tmp_path)
    back = read_coco(tmp_path, label_schema=ds.label_schema)
    split_by_image = {it["data"]["image"]: back.split[it["item_id"]] for it in back.items}
    assert split_by_image == {it["data"]["image"]: ds.split[it["item_id"]] for it in ds.items if it["item_id"] in ds.labels}
    assert back.labels["empty"] == {"boxes": []}
    assert back.split["sub/border"] == "val"  # item ids are file names without extension


def test_coco_write_refuses_to_replace_a_foreign_folder(tmp_path):
    from data_labeling_pipeline.errors import ProjectError

    (tmp_path / "precious.txt").write_text("x")
    with pytest.raises(ProjectError, match="refusing to replace"):
        write_coco(load_case("bbox"), tmp_path)
    assert (tmp_path / "precious.txt").exists()


def test_coco_write_replaces_an_earlier_export(tmp_path):
    write_coco(load_case("bbox"), tmp_path / "out")
    (tmp_path / "out" / "annotations" / "stale.json").write_text("{}")
    write_coco(load_case("bbox"), tmp_path / "out")
    assert not (tmp_path / "out" / "annotations" / "stale.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_coco_reader_refuses_several_classes_for_a_single_label_schema():
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 1, "category_id": 2}],
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    assert from_coco(coco).labels["a"] == {"labels": ["cat", "dog"]}  # inferred as multi-label
    schema = {"task_type": "image_classification", "schema_version": 1, "multi_label": False,
              "classes": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    with pytest.raises(DataError, match="single-label"):
        from_coco(coco, label_schema=schema)
