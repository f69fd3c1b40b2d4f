"""Edits of params.yaml that keep the user's comments, key order and quoting (ruamel round trip)."""

from __future__ import annotations

from typing import Any


def edited_params(text: str, keys: tuple[str, ...], value: Any) -> str:
    """``text`` (a params.yaml) with the value at ``keys`` set, created if missing; the rest unchanged.

    >>> print(edited_params("project:\\n  name: x   # the title\\n  id: null\\n", ("project", "id"), 7), end="")
    project:
      name: x   # the title
      id: 7
    """
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    data = yaml.load(text) or {}
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if isinstance(value, list) and isinstance(node.get(keys[-1]), list):
        node[keys[-1]][:] = value  # keeps the list's flow or block style
    else:
        node[keys[-1]] = value
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
