"""dlp push's edits of params.yaml and its Local Files URLs (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_labeling_pipeline.config import load_params
from data_labeling_pipeline.errors import ConfigError
from data_labeling_pipeline.project import Project
from data_labeling_pipeline.stages.push import local_files_prefix, record_project_id

PARAMS = """\
# The team's params: comments and key order must survive dlp push.
project:
  name: reviews   # shown in Label Studio
  task_type: text_classification
  classes: [pos, neg]
  label_studio:
    url: http://ls.example:8080
    project_id: null        # set by dlp push
    review_project_id: null
    annotator_projects: {}
quality:
  min_annotators_per_sample: 2
"""


def test_record_project_id_keeps_comments_order_and_nulls(tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS, "utf-8")
    project = Project(tmp_path)
    record_project_id(project, "project_id", 17)
    record_project_id(project, ("annotator_projects", "ann@example.com"), 21)
    text = (tmp_path / "params.yaml").read_text("utf-8")
    expected = PARAMS.replace("project_id: null        #", "project_id: 17          #").replace(
        "annotator_projects: {}", "annotator_projects:\n      ann@example.com: 21")
    assert text.splitlines()[:8] == expected.splitlines()[:8]
    assert "# The team's params" in text and "# shown in Label Studio" in text and "# set by dlp push" in text
    assert "review_project_id: null" in text
    settings = load_params(tmp_path / "params.yaml")["project"]["label_studio"]
    assert settings["project_id"] == 17 and settings["annotator_projects"] == {"ann@example.com": 21}
    assert settings["review_project_id"] is None
    assert [line.split(":")[0].strip() for line in text.splitlines() if line and not line.startswith(" ")][1:] == [
        "project", "quality"]
    assert not list(tmp_path.glob("*.tmp"))


def test_local_files_urls_are_relative_to_the_servers_document_root(tmp_path):
    repo = tmp_path / "data dir" / "cats"
    repo.mkdir(parents=True)
    assert local_files_prefix(repo, str(tmp_path), environ={}) == "/data/local-files/?d=data%20dir/cats/"
    assert local_files_prefix(repo, None, environ={"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(repo)}) == \
        "/data/local-files/?d="
    assert local_files_prefix(repo, None, environ={}) == "/data/local-files/?d=" + \
        str(repo.resolve()).lstrip("/").replace(" ", "%20") + "/"
    with pytest.raises(ConfigError) as caught:
        local_files_prefix(repo, str(Path(tmp_path) / "elsewhere"), environ={})
    assert "project.label_studio.local_files_root" in str(caught.value) and "document root" in str(caught.value)
