"""Exports of Label Studio projects that name their tags and data keys freely.

The reference exports are rewritten as if they came from projects with other names
(``<Image name="camera" value="$frame"/>``, ``<Choices name="mood" toName="review_view">``)
and extra data fields; read with that project's config, or by inference without one,
they must give the same records as the originals.
"""

from __future__ import annotations

import json

import pytest
from conftest import ASSETS, SHAPES, TASK_TYPES, load_export
from renames import EXTRA, RENAMES, renamed, renamed_config

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.labelstudio.config_reader import bind, class_differences, parse_label_config
from data_labeling_pipeline.labelstudio.exports import guess_task_type, parse_export


def parse(key, shape, tasks, truth, **options):
    options.setdefault("classes", truth["projects"][key]["labels"])
    return parse_export(tasks, task_type=TASK_TYPES[key], source_file=f"inbox/{key}.{shape}.json", **options)


def same_records(ours, reference):
    assert not ours.problems, ours.problems
    assert ours.annotations == reference.annotations
    assert ours.predictions == reference.predictions
    assert [{k: v for k, v in i.items() if k != "meta"} for i in ours.items] == reference.items


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("key", sorted(RENAMES))
def test_binding_config_with_other_names_gives_the_same_records(truth, key, shape):
    config = parse_label_config(renamed_config(key, caption=True), path="inbox/label_config.xml")
    ours = parse(key, shape, renamed(key, shape, extra=EXTRA), truth, label_config=config)
    same_records(ours, parse(key, shape, load_export(key, shape), truth))
    assert ours.binding.origin == "config" and ours.binding.data_key == RENAMES[key][2]
    assert all(item["meta"] == EXTRA for item in ours.items)  # the rest of the data goes to meta


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("key", ["imgcls", "ner", "bbox"])
def test_binding_inferred_without_a_config_despite_extra_fields(truth, key, shape):
    ours = parse(key, shape, renamed(key, shape, extra=EXTRA), truth)
    same_records(ours, parse(key, shape, load_export(key, shape), truth))
    assert ours.binding.origin == "inferred" and ours.binding.data_key == RENAMES[key][2]


@pytest.mark.parametrize("shape", SHAPES)
def test_binding_text_classification_inferred_when_one_string_field(truth, shape):
    ours = parse("textcls", shape, renamed("textcls", shape), truth)
    same_records(ours, parse("textcls", shape, load_export("textcls", shape), truth))


@pytest.mark.parametrize("shape", SHAPES)
def test_binding_ambiguous_text_field_names_candidates_and_the_param(truth, shape):
    tasks = renamed("textcls", shape, extra=EXTRA)
    out = parse("textcls", shape, tasks, truth)
    assert not out.annotations and len(out.problems) == 1
    message = str(out.problems[0])
    assert "['caption', 'review', 'source']" in message and "pull.data_key" in message
    settled = parse("textcls", shape, tasks, truth, data_key="review")
    same_records(settled, parse("textcls", shape, load_export("textcls", shape), truth))
    assert settled.binding.origin == "params"


def test_binding_a_task_without_annotations_takes_the_key_of_its_file(truth):
    tasks = renamed("imgcls", "export", extra=EXTRA)
    bare = [t for t in tasks if not t["annotations"]]
    assert bare  # a-img-08: prediction only
    out = parse("imgcls", "export", tasks, truth)
    ids = {i["item_id"] for i in out.items}
    assert {t["data"]["item_id"] for t in bare} <= ids


def test_binding_several_controls_need_pull_control(truth):
    tasks = renamed("textcls", "export")
    for task in tasks:  # a second classification control: topic
        for annotation in task["annotations"]:
            annotation["result"].append({"type": "choices", "from_name": "topic", "to_name": "review_view",
                                         "value": {"choices": ["delivery"]}})
    out = parse("textcls", "export", tasks, truth)
    assert "['mood', 'topic']" in str(out.problems[0]) and "pull.control" in str(out.problems[0])
    settled = parse("textcls", "export", tasks, truth, from_name="mood")
    same_records(settled, parse("textcls", "export", load_export("textcls", "export"), truth))


def test_binding_config_with_two_fitting_controls_needs_pull_control():
    config = parse_label_config(
        '<View><Text name="t" value="$review"/>\n'
        '<Choices name="mood" toName="t"><Choice value="a"/></Choices>\n'
        '<Choices name="topic" toName="t"><Choice value="b"/></Choices></View>', path="schema/label_config.xml")
    with pytest.raises(DataError, match=r"schema/label_config.xml:3: several controls .*\['mood', 'topic'\].*pull.control"):
        bind(config, "text_classification")
    assert bind(config, "text_classification", control="topic").classes == ("b",)


def test_binding_config_whose_names_the_export_lacks_is_not_used_and_says_why(truth):
    default = parse_label_config((ASSETS / "textcls.config.xml").read_text("utf-8"), path="schema/label_config.xml")
    out = parse("textcls", "export", renamed("textcls", "export"), truth, label_config=default)
    same_records(out, parse("textcls", "export", load_export("textcls", "export"), truth))
    assert out.binding.origin == "inferred"
    assert "schema/label_config.xml not used" in out.binding.note and "'mood'" in out.binding.note


@pytest.mark.parametrize("key", sorted(RENAMES))
def test_binding_guess_task_type_of_renamed_exports(key):
    assert guess_task_type(renamed(key, "export", extra=EXTRA)) == TASK_TYPES[key]
    config = parse_label_config(renamed_config(key))
    assert guess_task_type(renamed(key, "export"), label_config=config) == TASK_TYPES[key]


def test_binding_per_region_choices_and_rectangle_labels_pairs():
    config = parse_label_config(
        '<View><Image name="img" value="$url"/>'
        '<Rectangle name="box" toName="img"/>'
        '<Labels name="cls" toName="img"><Label value="car"/></Labels>'
        '<Choices name="occluded" toName="img" perRegion="true"><Choice value="yes"/></Choices></View>')
    bound = bind(config, "bbox")
    assert bound.from_names == {"box", "cls"} and bound.from_name == "cls" and bound.data_key == "url"
    with pytest.raises(DataError, match="no control tag carries image_classification labels"):
        bind(config, "image_classification")  # a per-region attribute is not the image's class


def test_binding_config_errors_name_file_and_line():
    with pytest.raises(DataError, match=r"^inbox/label_config.xml:4: not a valid label config"):
        parse_label_config('<View>\n<Image name="a" value="$x"/>\n<Choices name="b" toName="a">\n</View>',
                           path="inbox/label_config.xml")
    with pytest.raises(DataError, match="starts with <View>"):
        parse_label_config("<Image/>")


def test_binding_choice_alias_is_the_class_name_results_carry():
    config = parse_label_config('<View><Text name="t" value="$x"/><Choices name="c" toName="t">'
                                '<Choice value="Positive" alias="pos"/><Choice value="neg"/></Choices></View>')
    assert bind(config, "text_classification").classes == ("pos", "neg")


def test_binding_class_differences_say_exactly_what_differs():
    assert class_differences(["a", "b"], ["a", "b"]) == []
    assert class_differences(["b", "a", "z"], ["a", "b", "c"]) == [
        "not in schema/labels.yaml: ['z']",
        "in schema/labels.yaml but not offered by the config: ['c']",
        "in a different order: config ['b', 'a'], schema ['a', 'b']",
    ]


@pytest.mark.parametrize("key", sorted(RENAMES))
def test_binding_quality_assurance_reads_renamed_exports_as_pull_does(tmp_path, truth, key):
    from data_labeling_pipeline.core import QualityAssurance

    qa = QualityAssurance(classes=truth["projects"][key]["labels"])
    reference = qa.load_annotations(ASSETS / f"{key}.snapshot.json")
    export = tmp_path / f"{key}.snapshot.json"
    export.write_text(json.dumps(renamed(key, "snapshot", extra=EXTRA)), "utf-8")
    (tmp_path / "label_config.xml").write_text(renamed_config(key, caption=True), "utf-8")  # beside the export
    ours = qa.load_annotations(export)
    strip = [{k: v for k, v in a.items() if k != "source"} for a in ours]
    assert strip == [{k: v for k, v in a.items() if k != "source"} for a in reference] and ours


def test_binding_format_converter_reads_a_renamed_export_with_its_config(tmp_path):
    from data_labeling_pipeline.utils import FormatConverter

    (tmp_path / "ours").mkdir(), (tmp_path / "theirs").mkdir()
    (tmp_path / "ours/bbox.json").write_text(json.dumps(load_export("bbox", "snapshot")), "utf-8")
    (tmp_path / "theirs/bbox.json").write_text(json.dumps(renamed("bbox", "snapshot", extra=EXTRA)), "utf-8")
    (tmp_path / "theirs/label_config.xml").write_text(renamed_config("bbox"), "utf-8")
    outputs = []
    for side in ("ours", "theirs"):
        out = tmp_path / f"coco-{side}"
        FormatConverter().convert(tmp_path / side / "bbox.json", "label_studio", out, "coco", image_dir=str(ASSETS),
                                  classes=["car", "person", "bicycle"])
        outputs.append({p.relative_to(out).as_posix(): json.loads(p.read_text("utf-8")) for p in out.rglob("*.json")
                        if p.name != "export_report.json"})
    assert outputs[0] == outputs[1]
    assert sum(len(f["annotations"]) for f in outputs[1].values()) > 0


def test_binding_text_loaded_from_a_url_is_refused_with_the_reason():
    from data_labeling_pipeline.labelstudio.config_reader import check_against_schema

    config = parse_label_config('<View><Text name="t" value="$url" valueType="url"/>'
                                '<Labels name="l" toName="t"><Label value="PER"/></Labels></View>')
    problems, _ = check_against_schema(config, "ner", ["PER"])
    assert len(problems) == 1 and 'valueType="url"' in problems[0].message
