"""Image paths from foreign files: traversal refused, rebasing, item ids."""

from __future__ import annotations

import pytest

from data_labeling_pipeline.formats._paths import item_ids_for, safe_image_path


@pytest.mark.parametrize("name", ["../x.png", "a/../../x.png", "..", ".", "", "..\\..\\x.png", "/etc/passwd",
                                  "C:\\Windows\\x.png", "c:/x.png"])
def test_paths_refuse_escaping_or_absolute_names(name):
    with pytest.raises(ValueError):
        safe_image_path(name, image_dir="images")


@pytest.mark.parametrize(("name", "want"), [("a.png", "images/a.png"), ("./sub/a.png", "images/sub/a.png"),
                                            ("sub\\a.png", "images/sub/a.png"), ("a/../b.png", "images/b.png")])
def test_paths_accept_names_inside_the_folder(name, want):
    assert safe_image_path(name, image_dir="images") == want


def test_paths_rebase_only_inside_the_given_folder():
    assert safe_image_path("/data/x/a.png", image_dir="", rebase_paths="/data/x") == "a.png"
    assert safe_image_path("C:\\data\\a.png", image_dir="i", rebase_paths="C:/data") == "i/a.png"
    for outside in ("/data/xy/a.png", "/data/x/../y/a.png", "/data/x"):
        with pytest.raises(ValueError):
            safe_image_path(outside, image_dir="", rebase_paths="/data/x")


def test_paths_item_ids_drop_the_extension_unless_it_collides():
    assert item_ids_for(["a.png", "s/b.jpg", "c.png", "c.jpg"]) == {
        "a.png": "a", "s/b.jpg": "s/b", "c.png": "c.png", "c.jpg": "c.jpg"}
