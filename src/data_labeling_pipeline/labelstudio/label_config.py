"""Label Studio label configs (XML) for the four task types.

The tag names match what :func:`.tasks.to_label_studio_tasks` writes: the control
tag is ``from_name`` (default ``label``), the object tag ``image`` or ``text``
reading ``$image`` / ``$text``.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from .common import check_task_type, class_names, data_key_for

# Distinct, readable label colours; cycled when there are more classes.
_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def label_config(
    task_type: str, classes: list, *, multi_label: bool = False, from_name: str = "label"
) -> str:
    """The Label Studio XML label config of a task type and its classes (names XML-escaped).

    Args:
        task_type: ``image_classification``, ``text_classification``, ``ner`` or ``bbox``.
        classes: class names or ``{"id", "name"}`` dicts, in schema order.
        multi_label: classification lets the annotator pick several classes.
        from_name: name of the control tag.

    Example:
        >>> print(label_config("text_classification", ["pos", "neg"]))
        <View>
          <Text name="text" value="$text"/>
          <Choices name="label" toName="text" choice="single" showInLine="true">
            <Choice value="pos"/>
            <Choice value="neg"/>
          </Choices>
        </View>
        <BLANKLINE>
    """
    check_task_type(task_type)
    names = class_names(classes) or []
    obj = data_key_for(task_type)
    name = quoteattr(from_name)
    if task_type == "ner":
        labels = [
            f"    <Label value={quoteattr(n)} background={quoteattr(_colour(i))}/>"
            for i, n in enumerate(names)
        ]
        body = [
            f'  <Labels name={name} toName="text">',
            *labels,
            "  </Labels>",
            '  <Text name="text" value="$text"/>',
        ]
    elif task_type == "bbox":
        labels = [
            f"    <Label value={quoteattr(n)} background={quoteattr(_colour(i))}/>"
            for i, n in enumerate(names)
        ]
        body = [
            '  <Image name="image" value="$image" zoom="true"/>',
            f'  <RectangleLabels name={name} toName="image">',
            *labels,
            "  </RectangleLabels>",
        ]
    else:
        choice = "multiple" if multi_label else "single"
        tag = "Image" if obj == "image" else "Text"
        body = [
            f'  <{tag} name="{obj}" value="${obj}"/>',
            f'  <Choices name={name} toName="{obj}" choice="{choice}" showInLine="true">',
            *[f"    <Choice value={quoteattr(n)}/>" for n in names],
            "  </Choices>",
        ]
    return "\n".join(["<View>", *body, "</View>", ""])


def _colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]
