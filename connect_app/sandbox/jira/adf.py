"""What Jira Cloud enforces about Atlassian Document Format bodies.

The OpenAPI spec types a comment body as "any object", but Jira refuses a body that is not a
well-formed ADF document (version 1, root `doc`, known node types in the places the schema
allows them, no empty text nodes). `adf_problems` reports what Jira would refuse.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

BLOCK_NODES = frozenset(
    {
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "codeBlock",
        "blockquote",
        "rule",
        "panel",
        "table",
        "mediaSingle",
        "mediaGroup",
        "expand",
        "taskList",
        "decisionList",
        "blockCard",
        "embedCard",
        "extension",
        "bodiedExtension",
        "layoutSection",
    }
)
INLINE_NODES = frozenset(
    {
        "text",
        "hardBreak",
        "mention",
        "emoji",
        "inlineCard",
        "date",
        "status",
        "mediaInline",
        "placeholder",
        "inlineExtension",
    }
)
# Nodes that only appear as children of a specific parent.
CHILD_NODES: dict[str, frozenset[str]] = {
    "listItem": frozenset({"bulletList", "orderedList"}),
    "tableRow": frozenset({"table"}),
    "tableHeader": frozenset({"tableRow"}),
    "tableCell": frozenset({"tableRow"}),
    "media": frozenset({"mediaSingle", "mediaGroup"}),
    "taskItem": frozenset({"taskList"}),
    "decisionItem": frozenset({"decisionList"}),
    "nestedExpand": frozenset({"tableCell", "tableHeader", "expand"}),
    "layoutColumn": frozenset({"layoutSection"}),
}
KNOWN_NODES = BLOCK_NODES | INLINE_NODES | frozenset(CHILD_NODES)
KNOWN_MARKS = frozenset(
    {
        "strong",
        "em",
        "code",
        "link",
        "strike",
        "underline",
        "textColor",
        "subsup",
        "backgroundColor",
        "border",
        "alignment",
        "indentation",
        "annotation",
    }
)
# Containers whose children are inline content.
INLINE_CONTAINERS = frozenset({"paragraph", "heading", "codeBlock", "taskItem", "decisionItem"})
# Containers whose children must be of one specific kind.
REQUIRED_CHILDREN: dict[str, frozenset[str]] = {
    "bulletList": frozenset({"listItem"}),
    "orderedList": frozenset({"listItem"}),
    "table": frozenset({"tableRow"}),
    "tableRow": frozenset({"tableHeader", "tableCell"}),
    "taskList": frozenset({"taskItem", "taskList"}),
    "decisionList": frozenset({"decisionItem"}),
    "layoutSection": frozenset({"layoutColumn"}),
    "mediaSingle": frozenset({"media"}),
    "mediaGroup": frozenset({"media"}),
}


def adf_problems(doc: Any) -> list[str]:
    """Why Jira would refuse `doc` as a rich-text body; empty when it is well-formed."""
    if not isinstance(doc, dict):
        return ["The body must be an Atlassian Document Format object, not " + type(doc).__name__ + "."]
    problems: list[str] = []
    if doc.get("type") != "doc":
        problems.append("ADF root node must have type 'doc'.")
    if doc.get("version") != 1:
        problems.append("ADF document must have version 1.")
    content = doc.get("content")
    if not isinstance(content, list):
        problems.append("ADF document must have a 'content' array.")
        return problems
    for index, child in enumerate(content):
        _check_node(child, "doc", f"content[{index}]", problems)
    return problems


def _check_node(node: Any, parent: str, where: str, problems: list[str]) -> None:
    if not isinstance(node, dict):
        problems.append(f"{where}: ADF node must be an object.")
        return
    kind = node.get("type")
    if kind not in KNOWN_NODES:
        problems.append(f"{where}: unknown ADF node type {kind!r}.")
        return
    if parent == "doc" and kind not in BLOCK_NODES:
        problems.append(f"{where}: {kind!r} cannot appear at the top level of a document.")
    elif parent in INLINE_CONTAINERS and kind not in INLINE_NODES:
        problems.append(f"{where}: {kind!r} cannot appear inside {parent!r}.")
    elif parent in REQUIRED_CHILDREN and kind not in REQUIRED_CHILDREN[parent]:
        problems.append(f"{where}: {kind!r} cannot appear inside {parent!r}.")
    if kind in CHILD_NODES and parent not in CHILD_NODES[kind]:
        problems.append(f"{where}: {kind!r} can only appear inside {sorted(CHILD_NODES[kind])}.")
    attrs = node.get("attrs", {})
    if not isinstance(attrs, dict):
        problems.append(f"{where}: 'attrs' must be an object.")
        attrs = {}
    if kind == "text":
        text = node.get("text")
        if not isinstance(text, str) or text == "":
            problems.append(f"{where}: text nodes must have non-empty 'text'.")
        if "content" in node:
            problems.append(f"{where}: text nodes cannot have content.")
        _check_marks(node.get("marks", []), where, problems)
    elif kind == "mention" and not isinstance(attrs.get("id"), str):
        problems.append(f"{where}: a mention needs attrs.id (the accountId).")
    elif kind == "date" and not (isinstance(attrs.get("timestamp"), str) and attrs["timestamp"].isdigit()):
        # @atlaskit/adf-schema: date.attrs.timestamp is a non-empty string (milliseconds since the epoch).
        problems.append(f"{where}: a date needs attrs.timestamp, milliseconds since the epoch as a string.")
    elif kind == "heading" and attrs.get("level") not in (1, 2, 3, 4, 5, 6):
        problems.append(f"{where}: a heading needs attrs.level between 1 and 6.")
    elif kind in ("inlineCard", "blockCard") and not (attrs.get("url") or attrs.get("data")):
        problems.append(f"{where}: a card needs attrs.url.")
    content = node.get("content")
    if content is None:
        if kind in REQUIRED_CHILDREN or kind in ("listItem", "blockquote", "panel", "expand"):
            problems.append(f"{where}: {kind!r} must have content.")
        return
    if not isinstance(content, list):
        problems.append(f"{where}: 'content' must be an array.")
        return
    for index, child in enumerate(content):
        _check_node(child, kind, f"{where}.content[{index}]", problems)


def _check_marks(marks: Any, where: str, problems: list[str]) -> None:
    if not isinstance(marks, list):
        problems.append(f"{where}: 'marks' must be an array.")
        return
    for mark in marks:
        if not isinstance(mark, dict) or mark.get("type") not in KNOWN_MARKS:
            problems.append(f"{where}: unknown mark {mark!r}.")
        elif mark["type"] == "link" and not isinstance((mark.get("attrs") or {}).get("href"), str):
            problems.append(f"{where}: a link mark needs attrs.href.")


def walk(doc: Any) -> Iterator[dict[str, Any]]:
    """Every node of `doc`, depth first."""
    if isinstance(doc, dict):
        yield doc
        for child in doc.get("content") or []:
            yield from walk(child)


def adf_text(doc: Any) -> str:
    """The plain text of a document, as Jira indexes it for `text ~`."""
    parts: list[str] = []
    for node in walk(doc):
        if node.get("type") == "text":
            parts.append(str(node.get("text", "")))
        elif node.get("type") == "mention":
            parts.append(str((node.get("attrs") or {}).get("text", "")))
    return " ".join(parts)


def mentioned_account_ids(doc: Any) -> list[str]:
    """Account ids @mentioned in `doc`, in order of appearance."""
    return [
        str(node["attrs"]["id"])
        for node in walk(doc)
        if node.get("type") == "mention" and isinstance(node.get("attrs"), dict) and "id" in node["attrs"]
    ]


def paragraph(text: str) -> dict[str, Any]:
    """A one-paragraph document, for seeding."""
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }
