"""Compile a JSON Schema (the subset our record schemas use) into one Python function.

The compiled function only answers "valid or not", as fast as plain Python can:
validation of a file runs it on every record, and a record that fails is
explained by jsonschema (see `records.Validator`). Keywords outside the subset
raise at compile time, so a schema edit can never be silently half-checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_IGNORED = {"$schema", "$id", "$defs", "title", "description", "examples", "default", "$comment"}
_ANNOTATIONS_PREFIX = "x-"
# Exact type tests: JSON parsers return exact types, and `type(x) is int` already excludes bool.
_TYPES = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "boolean": "{v} is True or {v} is False",
    "null": "{v} is None",
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",  # JSON Schema: 1.0 is an integer
    "number": "type({v}) is float or type({v}) is int",
}
# The guard a keyword needs when the value's type is not already known.
_GUARD = {"object": "isinstance({v}, dict)", "array": "isinstance({v}, list)", "string": "isinstance({v}, str)",
          "number": "(type({v}) is float or type({v}) is int)"}
_MISSING = object()


def _method(keyword: str) -> str:
    """The compiler method of a keyword (``$ref`` -> ``k_ref``)."""
    return "k_" + keyword.replace("$", "")


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def compile_schema(schema: dict) -> Callable[[Any], bool]:
    """Return a function telling whether a value is valid under ``schema``.

    >>> ok = compile_schema({"type": "object", "required": ["a"], "properties": {"a": {"enum": [1, 2]}}})
    >>> ok({"a": 1}), ok({"a": 3}), ok({})
    (True, False, False)
    """
    compiler = _Compiler(schema)
    entry = compiler.function(schema)
    namespace: dict[str, Any] = dict(compiler.constants)
    exec(compile("\n".join(compiler.lines), "<record-schema>", "exec"), namespace)  # noqa: S102
    return namespace[entry]


class _Compiler:
    def __init__(self, root: dict):
        self.root = root
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {"_MISSING": _MISSING}
        self.known: str | None = None
        self.functions: dict[int, str] = {}
        self.variables = 0
        self.inlining: set[int] = set()

    def variable(self) -> str:
        self.variables += 1
        return f"x{self.variables}"

    def inline(self, schema: dict, v: str) -> list[str]:
        """Checks of a sub-schema inlined into the current function (calls cost more than checks)."""
        if id(schema) in self.inlining:  # a recursive schema: call a function instead
            return [f"if not {self.function(schema)}({v}): return False"]
        self.inlining.add(id(schema))
        try:
            return self.checks(schema, v)
        finally:
            self.inlining.discard(id(schema))

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def function(self, schema: dict) -> str:
        """Emit a function for a sub-schema (once per schema object) and return its name."""
        if id(schema) in self.functions:
            return self.functions[id(schema)]
        name = f"_f{len(self.functions)}"
        self.functions[id(schema)] = name
        body = self.checks(schema, "v")
        self.lines.append(f"def {name}(v):")
        self.lines.extend(f"    {line}" for line in body)
        self.lines.append("    return True")
        return name

    def resolve(self, ref: str) -> dict:
        if not ref.startswith("#/"):
            raise UnsupportedSchema(f"only local $ref are supported, got {ref!r}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def checks(self, schema: dict, v: str) -> list[str]:
        out: list[str] = []
        unknown = {
            k for k in schema
            if k not in _IGNORED and not k.startswith(_ANNOTATIONS_PREFIX) and not hasattr(self, _method(k))
        }
        if unknown:
            raise UnsupportedSchema(f"unsupported keywords {sorted(unknown)}")
        outer = self.known
        self.known = None
        if "type" in schema:
            out += self.k_type(schema, v)
            kind = schema["type"]
            self.known = {"integer": "number"}.get(kind, kind) if isinstance(kind, str) else None
        for key in schema:
            if key != "type" and hasattr(self, _method(key)):
                out += getattr(self, _method(key))(schema, v)
        self.known = outer
        return out

    def guarded(self, kind: str, v: str, test: str) -> list[str]:
        """`return False` when ``test`` fails, for values of ``kind`` (others pass the keyword)."""
        if self.known == kind:
            return [f"if {test}: return False"]
        return [f"if {_GUARD[kind].format(v=v)} and {test}: return False"]

    # One method per keyword; each returns lines that `return False` on failure.
    def k_type(self, s, v):
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        test = " or ".join(_TYPES[t].format(v=v) for t in types)
        return [f"if not ({test}): return False"]

    def k_ref(self, s, v):
        return self.inline(self.resolve(s["$ref"]), v)

    def k_enum(self, s, v):
        values = s["enum"]
        if all(isinstance(x, str) for x in values):
            return [f"if not (isinstance({v}, str) and {v} in {self.constant(frozenset(values))}): return False"]
        return [f"if not any({v} == x and type({v}) is type(x) for x in {self.constant(list(values))}): return False"]

    def k_required(self, s, v):
        return self.guarded("object", v, f"not {self.constant(frozenset(s['required']))}.issubset({v})")

    def k_properties(self, s, v):
        lines = []
        known = self.known
        for key, sub in s["properties"].items():
            body = self.inline(sub, x := self.variable())
            if body:
                lines += [f"{x} = {v}.get({key!r}, _MISSING)", f"if {x} is not _MISSING:", *(f"    {b}" for b in body)]
        if not lines or known == "object":
            return lines
        return [f"if isinstance({v}, dict):", *(f"    {x}" for x in lines)]

    def k_additionalProperties(self, s, v):
        extra = s["additionalProperties"]
        allowed = self.constant(frozenset(s.get("properties", {})))
        if extra is False:
            return self.guarded("object", v, f"not {allowed}.issuperset({v})")
        if extra is True:
            return []
        x = self.variable()
        return [
            f"if isinstance({v}, dict):",
            f"    for k, {x} in {v}.items():",
            f"        if k not in {allowed}:",
            *(f"            {b}" for b in self.inline(extra, x)),
        ]

    def k_items(self, s, v):
        x = self.variable()
        body = self.inline(s["items"], x)
        if not body:
            return []
        if self.known == "array":
            return [f"for {x} in {v}:", *(f"    {b}" for b in body)]
        return [f"if isinstance({v}, list):", f"    for {x} in {v}:", *(f"        {b}" for b in body)]

    def k_uniqueItems(self, s, v):
        if not s["uniqueItems"]:
            return []
        return self.guarded("array", v, f"len({{repr(x) for x in {v}}}) != len({v})")

    def _numeric(self, s, v, key, op):
        return self.guarded("number", v, f"not ({v} {op} {s[key]!r})")

    def k_minimum(self, s, v):
        return self._numeric(s, v, "minimum", ">=")

    def k_maximum(self, s, v):
        return self._numeric(s, v, "maximum", "<=")

    def k_exclusiveMinimum(self, s, v):
        return self._numeric(s, v, "exclusiveMinimum", ">")

    def k_exclusiveMaximum(self, s, v):
        return self._numeric(s, v, "exclusiveMaximum", "<")

    def k_minLength(self, s, v):
        return self.guarded("string", v, f"len({v}) < {s['minLength']}")

    def k_maxLength(self, s, v):
        return self.guarded("string", v, f"len({v}) > {s['maxLength']}")

    def k_pattern(self, s, v):
        regex = self.constant(re.compile(s["pattern"]).search)
        return self.guarded("string", v, f"{regex}({v}) is None")

    def k_oneOf(self, s, v):
        fns = [self.function(sub) for sub in s["oneOf"]]
        return [f"if sum(1 for f in ({', '.join(fns)},) if f({v})) != 1: return False"]

    def k_anyOf(self, s, v):
        fns = [self.function(sub) for sub in s["anyOf"]]
        return [f"if not any(f({v}) for f in ({', '.join(fns)},)): return False"]
