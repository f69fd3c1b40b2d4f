"""Shared fixtures: small labeling projects on disk, with or without real git and dvc."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Small matrices everywhere: one BLAS thread per process is faster than two fighting over 2 cores
# (measured: a 200 x 400 logistic regression 0.03 s vs 1.1 s). Set before numpy loads; subprocesses
# (dvc repro -> dlp) inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402 (after the thread settings)

from data_labeling_pipeline.config import dump_params, with_defaults  # noqa: E402 (after the thread settings)
from data_labeling_pipeline.labels import new_label_schema  # noqa: E402 (after the thread settings)
from data_labeling_pipeline.project import Project  # noqa: E402 (after the thread settings)
from data_labeling_pipeline.repo.scaffold import labels_yaml  # noqa: E402 (after the thread settings)

ASSETS = Path(__file__).parent / "assets"


def make_params(task_type: str = "image_classification", classes=("cat", "dog", "bird", "other"), **sections) -> dict:
    params = {"project": {"name": f"test-{task_type}", "task_type": task_type, "classes": list(classes)}}
    params.update(sections)
    return with_defaults(params)


@pytest.fixture
def bare_project(tmp_path):
    """A project folder (params.yaml + schema/labels.yaml) without git or dvc: for fast unit tests."""

    def make(task_type: str = "image_classification", classes=("cat", "dog", "bird", "other"), **sections) -> Project:
        root = tmp_path / f"proj-{task_type}"
        (root / "schema").mkdir(parents=True)
        (root / "annotations").mkdir()
        (root / "inbox").mkdir()
        params = make_params(task_type, classes, **sections)
        (root / "params.yaml").write_text(dump_params(params), encoding="utf-8")
        (root / "schema/labels.yaml").write_text(labels_yaml(new_label_schema(task_type, list(classes))), encoding="utf-8")
        return Project(root)

    return make


@pytest.fixture
def tool_env(monkeypatch):
    """PATH with this environment's `dlp` and `dvc` first, as an activated venv has it."""
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    return bin_dir


def pytest_collection_modifyitems(config, items):
    """A test of the Label Studio server must say so (marks live and xdist_group), or the session starts two."""
    for item in items:
        if "ls_server" in getattr(item, "fixturenames", ()) and item.get_closest_marker("live") is None:
            raise pytest.UsageError(f"{item.nodeid} uses ls_server: mark it live and xdist_group('labelstudio')")


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory):
    """One real Label Studio server for the whole session (installed into .cache/ on first use).

    Its Local Files root is ``ls_server.files_root``: projects with images live under it.
    """
    import lsserver

    server = lsserver.start(tmp_path_factory.mktemp("ls-files"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def users(ls_server):
    """The live tests' three annotators on the shared server: e-mail -> Label Studio user id."""
    from test_labelstudio_live import USERS

    client = ls_server.client()
    known = {u.email: u.id for u in client.users.list()}
    for email in USERS:
        if email not in known:
            known[email] = client.users.create(email=email, username=email.split("@")[0]).id
    return {email: known[email] for email in USERS}


@pytest.fixture
def key_env(ls_server, monkeypatch, tool_env):
    """The server's API key in the variable params name (LABEL_STUDIO_API_KEY), as a user exports it."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_server.token)
    return ls_server.token
