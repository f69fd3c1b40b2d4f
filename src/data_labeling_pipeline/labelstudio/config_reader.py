"""Read a Label Studio label config (XML): object tags, control tags, and the classes they offer.

Label Studio users name their tags and data keys freely (``<Image name="cam"
value="$image_url"/>``, ``<Choices name="sentiment" toName="review">``), so the
config, not a hard-coded ``image`` / ``text``, says where an export keeps its data
and labels. Pure: :func:`parse_label_config` takes the XML text; reading the file
is the caller's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from data_labeling_pipeline.errors import DataError, Problem

#: Object tags we read, and the kind of data each shows.
OBJECT_KINDS = {"Image": "image", "Text": "text", "HyperText": "text"}
#: Control tags that carry labels of one of the four task types.
CONTROL_TAGS = ("Choices", "Labels", "RectangleLabels", "Rectangle")
_VARIABLE = re.compile(r"^\$([A-Za-z_][\w.-]*)$")


@dataclass(frozen=True)
class ObjectTag:
    """A tag that shows task data: ``name`` is what controls' ``toName`` point at."""

    name: str
    tag: str
    kind: str
    data_key: str | None  # ``value="$review"`` -> ``review``; None for a literal value
    line: int | None = None


@dataclass(frozen=True)
class ControlTag:
    """A tag that produces results (``from_name`` = ``name``); ``classes`` as results spell them."""

    name: str
    tag: str
    to_names: tuple[str, ...]
    classes: tuple[str, ...] = ()
    multiple: bool = False
    per_region: bool = False
    dynamic: bool = False  # labels come from the task data (``value="$options"``)
    line: int | None = None


@dataclass(frozen=True)
class LabelConfig:
    """The tags of one label config; ``path`` is where it was read (for messages)."""

    path: str
    objects: tuple[ObjectTag, ...] = ()
    controls: tuple[ControlTag, ...] = ()
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    def object(self, name: str) -> ObjectTag | None:
        return next((o for o in self.objects if o.name == name), None)

    def targets(self, control: ControlTag) -> list[ObjectTag]:
        """The object tags a control labels (``toName`` may list several, comma-separated)."""
        return [o for o in (self.object(n) for n in control.to_names) if o is not None]


def parse_label_config(text: str, *, path: str = "label_config.xml") -> LabelConfig:
    """Parse a label config; raise a DataError naming the file and line when it is not one.

    Args:
        text: the XML of the config.
        path: shown in messages.

    Example:
        >>> config = parse_label_config('''<View>
        ...   <Text name="review" value="$review_text"/>
        ...   <Choices name="sentiment" toName="review"><Choice value="pos"/><Choice value="neg" alias="n"/></Choices>
        ... </View>''')
        >>> config.objects[0].data_key, config.controls[0].name, config.controls[0].classes
        ('review_text', 'sentiment', ('pos', 'n'))
    """
    from xml.parsers import expat

    try:
        root = _parse_xml(text)
    except expat.ExpatError as exc:
        raise DataError.single(path, exc.lineno, "", f"not a valid label config (XML): {exc}") from None
    if root.tag != "View":
        raise DataError.single(path, _line(root), root.tag,
                               "a Label Studio label config starts with <View>; paste the project's "
                               "Settings > Labeling Interface > Code here")
    objects, controls, problems = [], [], []
    for element in root.iter():
        name = element.get("name")
        if element.tag in OBJECT_KINDS and name:
            value = element.get("value", "")
            match = _VARIABLE.match(value.strip())
            if element.get("valueType") == "url" and element.tag != "Image":
                problems.append(Problem(path, _line(element), f"{element.tag}[name={name}]",
                                        "text loaded from a URL (valueType=\"url\") is not read; "
                                        "import the text itself into the task data"))
            objects.append(ObjectTag(name, element.tag, OBJECT_KINDS[element.tag],
                                     match.group(1) if match else None, _line(element)))
        elif element.tag in CONTROL_TAGS and name:
            children = [c for c in element if c.tag in ("Choice", "Label")]
            classes = tuple(c.get("alias") or c.get("value", "") for c in children if c.get("alias") or c.get("value"))
            to_names = tuple(n.strip() for n in element.get("toName", "").split(",") if n.strip())
            controls.append(ControlTag(
                name, element.tag, to_names, classes,
                multiple=element.get("choice", "single") == "multiple",
                per_region=_true(element.get("perRegion")),
                dynamic=bool(element.get("value", "").startswith("$")),
                line=_line(element),
            ))
    return LabelConfig(path, tuple(objects), tuple(controls), tuple(problems))


@dataclass(frozen=True)
class ConfigBinding:
    """What one control of a config means for a task type: where to read data and labels."""

    from_names: frozenset[str]
    from_name: str  # the control that carries the labels (JSON_MIN's label key)
    to_name: str
    data_key: str | None
    classes: tuple[str, ...]
    multi_label: bool
    extra_keys: tuple[str, ...] = ()  # data keys of the other object tags (they go to the item's meta)


def bind(config: LabelConfig, task_type: str, *, control: str | None = None) -> ConfigBinding:
    """The control of ``config`` that carries ``task_type`` labels, and the data key it labels.

    Several fitting controls are an error unless ``control`` names one (``pull.control``).

    Example:
        >>> config = parse_label_config('<View><Image name="cam" value="$url"/>'
        ...     '<RectangleLabels name="det" toName="cam"><Label value="car"/></RectangleLabels></View>')
        >>> b = bind(config, "bbox")
        >>> b.from_name, b.data_key, b.classes
        ('det', 'url', ('car',))
    """
    fits = fitting_controls(config, task_type)
    if control is not None:
        chosen = [c for c in fits if c.name == control]
        if not chosen:
            names = [c.name for c in config.controls]
            raise DataError.single(config.path, None, "pull.control",
                                   f"no control named {control!r} carries {task_type} labels; "
                                   f"the config's controls are {names}")
        fits = chosen
    if not fits:
        found = [f"{c.tag} {c.name!r}" for c in config.controls] or "none"
        raise DataError.single(config.path, None, "",
                               f"no control tag carries {task_type} labels (found: {found}); "
                               f"{_WANTED[task_type]}")
    if len(fits) > 1:
        raise DataError.single(config.path, fits[1].line, "",
                               f"several controls carry {task_type} labels: {[c.name for c in fits]}; "
                               "set pull.control in params.yaml to the one to read")
    chosen_control = fits[0]
    target = config.targets(chosen_control)[0]
    from_names = {chosen_control.name}
    if task_type == "bbox" and chosen_control.tag == "Labels":  # Rectangle + Labels on one image
        from_names |= {c.name for c in config.controls if c.tag == "Rectangle" and target.name in c.to_names}
    extra = tuple(sorted({o.data_key for o in config.objects if o.data_key and o.data_key != target.data_key}))
    return ConfigBinding(frozenset(from_names), chosen_control.name, target.name, target.data_key,
                         chosen_control.classes, chosen_control.multiple, extra)


def fitting_controls(config: LabelConfig, task_type: str) -> list[ControlTag]:
    """Controls whose tag and target object fit ``task_type`` (per-region attributes excluded)."""
    out = []
    for control in config.controls:
        kinds = {o.kind for o in config.targets(control)}
        if control.per_region or len(kinds) != 1:
            continue
        kind = kinds.pop()
        if task_type == "image_classification" and control.tag == "Choices" and kind == "image":
            out.append(control)
        elif task_type == "text_classification" and control.tag == "Choices" and kind == "text":
            out.append(control)
        elif task_type == "ner" and control.tag == "Labels" and kind == "text":
            out.append(control)
        elif task_type == "bbox" and kind == "image" and (
            control.tag == "RectangleLabels"
            or (control.tag == "Labels" and any(c.tag == "Rectangle" and set(c.to_names) & set(control.to_names)
                                                for c in config.controls))
        ):
            out.append(control)
    return out


def class_differences(config_classes: list[str] | tuple[str, ...], schema_classes: list[str]) -> list[str]:
    """What differs between a config's classes and the label schema's, one sentence per difference.

    Example:
        >>> class_differences(["dog", "cat", "cow"], ["cat", "dog"])
        ["not in schema/labels.yaml: ['cow']", "in a different order: config ['dog', 'cat'], schema ['cat', 'dog']"]
    """
    config_classes, schema = list(config_classes), list(schema_classes)
    out = []
    extra = [c for c in config_classes if c not in schema]
    missing = [c for c in schema if c not in config_classes]
    if extra:
        out.append(f"not in schema/labels.yaml: {extra}")
    if missing:
        out.append(f"in schema/labels.yaml but not offered by the config: {missing}")
    common_config = [c for c in config_classes if c in schema]
    common_schema = [c for c in schema if c in config_classes]
    if common_config != common_schema:
        out.append(f"in a different order: config {common_config}, schema {common_schema}")
    return out


def check_against_schema(config: LabelConfig, task_type: str, classes: list[str], *,
                         control: str | None = None) -> tuple[list[Problem], list[str]]:
    """Problems (classes the schema lacks, no usable control) and warnings (order, unused classes).

    Example:
        >>> config = parse_label_config('<View><Text name="t" value="$x"/><Choices name="c" toName="t">'
        ...     '<Choice value="b"/><Choice value="a"/></Choices></View>', path="schema/label_config.xml")
        >>> problems, warnings = check_against_schema(config, "text_classification", ["a", "b"])
        >>> problems, warnings
        ([], ["schema/label_config.xml: control 'c': in a different order: config ['b', 'a'], schema ['a', 'b']"])
    """
    try:
        bound = bind(config, task_type, control=control)
    except DataError as exc:
        return list(exc.problems), []
    target = config.object(bound.to_name)
    problems = [p for p in config.problems if target is not None and p.field == f"{target.tag}[name={target.name}]"]
    warnings = []
    where = f"control {bound.from_name!r}"
    for difference in class_differences(bound.classes, classes) if bound.classes else ():
        if difference.startswith("not in schema"):
            problems.append(Problem(config.path, None, where, f"offers classes {difference.split(': ', 1)[1]} that "
                                    "schema/labels.yaml lacks; add them to schema/labels.yaml (new classes append) "
                                    "or remove them from the config"))
        else:
            warnings.append(f"{config.path}: {where}: {difference}")
    return problems, warnings


_WANTED = {
    "image_classification": "expected <Choices toName=...> pointing at an <Image>",
    "text_classification": "expected <Choices toName=...> pointing at a <Text>",
    "ner": "expected <Labels toName=...> pointing at a <Text>",
    "bbox": "expected <RectangleLabels toName=...> (or <Rectangle> + <Labels>) pointing at an <Image>",
}


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


@dataclass
class _Element:
    tag: str
    attrib: dict
    line: int
    children: list = field(default_factory=list)

    def get(self, key: str, default=None):
        return self.attrib.get(key, default)

    def __iter__(self):
        return iter(self.children)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()


def _parse_xml(text: str) -> _Element:
    """A minimal element tree with source lines (ElementTree keeps none), built with expat."""
    from xml.parsers import expat

    parser = expat.ParserCreate()
    stack: list[_Element] = [_Element("", {}, 0)]

    def start(tag, attrs):
        element = _Element(tag, attrs, parser.CurrentLineNumber)
        stack[-1].children.append(element)
        stack.append(element)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    parser.Parse(text, True)
    return stack[0].children[0]


def _line(element: _Element) -> int | None:
    return element.line or None
