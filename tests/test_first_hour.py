"""A new user's first hour, for every task type and three configs: each step green, DVC clean after each.

Each project is built once and walked through init -> dvc repro (empty) -> ingest -> dvc repro ->
one annotator's export -> dvc repro -> a second annotator's -> dvc repro -> dlp gate, with real
git and dvc; see tests/first_hour.py.
"""

from __future__ import annotations

import pytest
from first_hour import CONFIGS, STEPS, TASKS, Walk

REPROS = ("repro_empty", "repro_items", "one_annotator", "two_annotators")


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("task_type", list(TASKS))
def test_first_hour_every_step_is_green_and_dvc_clean(tmp_path, task_type, config):
    walk = Walk(tmp_path, task_type, config)
    for step in STEPS[:-1]:
        done = walk.step(step)
        assert done.returncode == 0, f"{step}: {done.stdout[-1500:]}\n{done.stderr[-3000:]}"
        if step in REPROS:
            status = walk.status()
            assert status.returncode == 0, f"dvc status after {step}: {status.stdout}{status.stderr}"
    again = walk.rerun()
    assert again.returncode == 0 and "Running stage" not in again.stdout, again.stdout
    gate = walk.step("gate")
    # Two annotators on eight items: the figure is defined; the policy's answer is pass (0) or fail (3).
    assert gate.returncode in (0, 3), gate.stderr
    assert "Traceback" not in gate.stderr
    assert ("quality gate failed" in gate.stderr) == (gate.returncode == 3), gate.stdout + gate.stderr
    assert " is undefined" not in gate.stdout + gate.stderr
