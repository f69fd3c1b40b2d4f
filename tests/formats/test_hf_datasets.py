"""HuggingFace Datasets writer: load_from_disk reads our output with the expected features."""

from __future__ import annotations

import pytest
from fmt_golden import check_json, load_case

from data_labeling_pipeline.formats import to_hf, write_hf
from data_labeling_pipeline.formats.verify import verify_hf


@pytest.mark.parametrize("name", ["bbox", "ner", "textcls", "imgcls"])
def test_hf_datasets_golden_via_load_from_disk(tmp_path, name):
    import datasets

    ds = load_case(name)
    report = write_hf(ds, tmp_path)
    expected = to_hf(ds)
    assert verify_hf(tmp_path, expected_features=expected["train"].features,
                     expected_rows={s: expected[s].num_rows for s in expected}) == []
    dd = datasets.load_from_disk(str(tmp_path))
    dump = {s: {"features": dd[s].features.to_dict(), "rows": dd[s].to_list()} for s in dd}
    check_json(dump, "hf", name, "dataset.json")
    check_json(report.as_dict(), "hf", name, "report.json")


def test_hf_datasets_classlabel_names_follow_schema_order():
    dd = to_hf(load_case("imgcls"))
    assert dd["train"].features["label"].names == ["cat", "dog", "bird"]
    ner = to_hf(load_case("ner"))
    assert ner["train"].features["ner_tags"].feature.names == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC",
                                                             "I-LOC"]


def test_hf_datasets_ner_bio_tags_after_emoji():
    row = to_hf(load_case("ner"))["train"][0]
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    assert list(zip(row["tokens"], [names[t] for t in row["ner_tags"]], strict=True)) == [
        ("😀", "O"), ("Angela", "B-PER"), ("Merkel", "I-PER"), ("visited", "O"), ("Oslo", "B-LOC"), (".", "O")]


def test_hf_datasets_boxes_are_coco_xywh_pixels():
    dd = to_hf(load_case("bbox"))
    row = [r for r in dd["train"] if r["item_id"] == "street"][0]
    assert row["objects"]["bbox"][1] == [300.25, 150.5, 60.1, 180.7]
    assert row["objects"]["iscrowd"] == [False, True, False]


def test_hf_datasets_empty_split_loads_back(tmp_path):
    import datasets

    from data_labeling_pipeline.formats import make_dataset

    ds = load_case("textcls")
    everything_train = make_dataset(ds.items, ds.labels, ds.label_schema, policies=ds.policies)
    write_hf(everything_train, tmp_path)
    dd = datasets.load_from_disk(str(tmp_path))
    assert (dd["train"].num_rows, dd["validation"].num_rows) == (5, 0)
    assert dd["validation"].features == dd["train"].features


def test_hf_datasets_image_feature_embeds_bytes_when_asked(tmp_path):
    import datasets
    from PIL import Image

    ds = load_case("imgcls")
    for item in ds.items:
        path = tmp_path / "proj" / item["data"]["image"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (item["data"]["width"], item["data"]["height"])).save(path)
    write_hf(ds, tmp_path / "out", images_root=tmp_path / "proj")
    (tmp_path / "proj").rename(tmp_path / "gone")  # the export must not need the files any more
    row = datasets.load_from_disk(str(tmp_path / "out"))["validation"][0]
    assert row["image"].size == (66, 48)


@pytest.mark.parametrize("name", ["bbox", "ner", "textcls", "imgcls"])
def test_hf_datasets_rows_built_in_batches_save_the_same_bytes(tmp_path, name):
    # The writer turns rows into Arrow a batch at a time (memory); batching must not show in the files,
    # state.json's fingerprint included.
    ds = load_case(name)

    def saved(dd, folder):
        dd.save_to_disk(str(folder))
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    whole = saved(to_hf(ds), tmp_path / "whole")
    assert "train/state.json" in whole
    assert saved(to_hf(ds, batch_rows=1), tmp_path / "one") == whole
    assert saved(to_hf(ds, batch_rows=2), tmp_path / "two") == whole
