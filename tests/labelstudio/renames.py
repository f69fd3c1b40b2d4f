"""Reference exports rewritten as projects with other tag names and data keys would export them."""

from __future__ import annotations

import json
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "labelstudio"


def load_export(key: str, shape: str) -> list:
    return json.loads((ASSETS / f"{key}.{shape}.json").read_text(encoding="utf-8"))


# key: (original data key, original control, new data key, new object name, new control name)
RENAMES = {
    "imgcls": ("image", "choice", "photo_url", "cam", "species"),
    "textcls": ("text", "sentiment", "review", "review_view", "mood"),
    "ner": ("text", "label", "body", "article", "entities"),
    "bbox": ("image", "label", "frame", "camera", "objects"),
}
EXTRA = {"caption": "a caption that is not the labelled object", "source": "crawl-7"}


def renamed(key: str, shape: str, *, extra: dict | None = None) -> list:
    """A reference export as a project with other tag names and data keys would export it."""
    old_key, old_control, new_key, new_object, new_control = RENAMES[key]
    tasks = load_export(key, shape)
    for task in tasks:
        if shape == "min":
            for old, new in ((old_key, new_key), (old_control, new_control)):
                if old in task:
                    task[new] = task.pop(old)
            task.update(extra or {})
            continue
        task["data"] = {new_key if k == old_key else k: v for k, v in task["data"].items()} | (extra or {})
        entries = [*task.get("annotations", []), *[p for p in task.get("predictions", []) if isinstance(p, dict)]]
        entries += [a["prediction"] for a in task.get("annotations", []) if isinstance(a.get("prediction"), dict)]
        for entry in entries:
            for result in entry.get("result", []):
                result["from_name"], result["to_name"] = new_control, new_object
    return tasks


def renamed_config(key: str, *, caption: bool = False) -> str:
    """The reference config with the new names (and a caption object tag when asked)."""
    _, old_control, new_key, new_object, new_control = RENAMES[key]
    text = (ASSETS / f"{key}.config.xml").read_text("utf-8")
    old_object = "image" if key in ("imgcls", "bbox") else "text"
    text = text.replace(f'name="{old_object}" value="${old_object}"', f'name="{new_object}" value="${new_key}"')
    text = text.replace(f'name="{old_control}" toName="{old_object}"', f'name="{new_control}" toName="{new_object}"')
    if caption:
        text = text.replace("</View>", '  <Text name="cap" value="$caption"/>\n</View>')
    return text


