"""State values as something to look at: a collapsible tree, messages as a conversation, and
the difference between two states. Pure functions over JSON-like values (the checkpoint
page turns channel values into them with ``cli.common.jsonable``, as ``show --json`` does).

Why the limits: a state can be megabytes (a long chat, a document in a channel). Every
string is cut at ``MAX_STR`` characters and every list or object at ``MAX_ITEMS`` entries,
and each cut says how much it left out and links to the whole value (the ``value`` page,
which prints the full JSON), so a 1 MB state renders as a page of a few hundred KB at most,
and nothing is hidden without saying so.

Messages are recognised by shape, not class: a list whose items all have ``content`` and a
``type`` or ``role`` (LangChain messages as ``model_dump`` gives them, or the dicts
``add_messages`` accepts). The diff compares messages by id when every message has one (what
``add_messages`` guarantees), else as a list that grew at its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ChannelDiff",
    "Message",
    "Node",
    "as_messages",
    "diff",
    "full_json",
    "tree",
    "value_at",
]

MAX_STR = 2000
MAX_ITEMS = 100
MAX_DEPTH = 24

Path = tuple[str | int, ...]


@dataclass
class Node:
    """One value of the tree: a scalar (``text``) or a container (``children``)."""

    kind: str  # dict, list, str, num, bool, null
    text: str = ""
    children: list[tuple[str, Node]] = field(default_factory=list)
    size: int = 0  # entries of a container, characters of a string
    cut: int = 0  # entries (or characters) left out
    path: Path = ()

    @property
    def open(self) -> bool:
        """Small containers start expanded, big ones collapsed."""
        return self.size <= 12 and len(self.path) < 4


def tree(value: Any, path: Path = (), depth: int = 0) -> Node:
    """``value`` (JSON-like) as a :class:`Node`, cut at the limits."""
    if isinstance(value, dict):
        node = Node("dict", size=len(value), path=path)
        if depth >= MAX_DEPTH:
            node.cut = len(value)
            return node
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                node.cut = len(value) - MAX_ITEMS
                break
            node.children.append((str(k), tree(v, (*path, str(k)), depth + 1)))
        return node
    if isinstance(value, (list, tuple)):
        node = Node("list", size=len(value), path=path)
        if depth >= MAX_DEPTH:
            node.cut = len(value)
            return node
        for i, v in enumerate(value[:MAX_ITEMS]):
            node.children.append((str(i), tree(v, (*path, i), depth + 1)))
        node.cut = max(0, len(value) - MAX_ITEMS)
        return node
    if isinstance(value, str):
        return Node(
            "str", value[:MAX_STR], size=len(value), cut=max(0, len(value) - MAX_STR), path=path
        )
    if isinstance(value, bool):
        return Node("bool", "true" if value else "false", path=path)
    if value is None:
        return Node("null", "null", path=path)
    if isinstance(value, (int, float)):
        return Node("num", repr(value), path=path)
    return Node("str", str(value)[:MAX_STR], size=len(str(value)), path=path)


@dataclass
class Message:
    """One message of a conversation, ready to show."""

    index: int
    role: str  # human, ai, system, tool... (the message's type or role)
    name: str | None
    text: str  # the text content, cut at MAX_STR
    cut: int  # characters left out of ``text``
    blocks: Node | None  # non-text content blocks
    tool_calls: list[Node]
    tool_call_id: str | None
    id: str | None
    path: Path


def _is_message(v: Any) -> bool:
    return isinstance(v, dict) and "content" in v and ("type" in v or "role" in v)


def _text(content: Any) -> tuple[str, Any]:
    """The readable text of a message's content, and the blocks that are not text."""
    if isinstance(content, str):
        return content, None
    if isinstance(content, list):
        texts: list[str] = []
        other: list[Any] = []
        for block in content:
            if isinstance(block, str):
                texts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                texts.append(str(block.get("text", "")))
            else:
                other.append(block)
        return "\n".join(texts), other or None
    return "", content


def as_messages(value: Any, path: Path = ()) -> list[Message] | None:
    """The messages of ``value`` if it is a list of messages (``None`` otherwise)."""
    if not isinstance(value, list) or not value or not all(_is_message(m) for m in value):
        return None
    return [message(i, m, (*path, i)) for i, m in enumerate(value)]


def message(index: int, m: dict[str, Any], path: Path) -> Message:
    text, blocks = _text(m.get("content"))
    role = str(m.get("type") or m.get("role") or "message")
    calls = [tree(c, (*path, "tool_calls", i)) for i, c in enumerate(m.get("tool_calls") or [])]
    return Message(
        index=index,
        role=role,
        name=m.get("name") if isinstance(m.get("name"), str) else None,
        text=text[:MAX_STR],
        cut=max(0, len(text) - MAX_STR),
        blocks=tree(blocks, (*path, "content")) if blocks is not None else None,
        tool_calls=calls,
        tool_call_id=m.get("tool_call_id") if isinstance(m.get("tool_call_id"), str) else None,
        id=m.get("id") if isinstance(m.get("id"), str) else None,
        path=path,
    )


@dataclass
class ChannelDiff:
    """How one channel differs from the parent's."""

    channel: str
    status: str  # added, removed, changed
    added: list[Message] = field(default_factory=list)  # messages
    removed: list[Message] = field(default_factory=list)
    edited: list[Message] = field(default_factory=list)
    appended: Node | None = None  # a list that grew at its end: the new items
    before: Node | None = None
    after: Node | None = None


def diff(child: dict[str, Any], parent: dict[str, Any]) -> list[ChannelDiff]:
    """Channels whose value differs between ``parent`` and ``child`` (both JSON-like)."""
    out: list[ChannelDiff] = []
    for ch in list(child) + [c for c in parent if c not in child]:
        if ch not in parent:
            d = ChannelDiff(ch, "added", after=tree(child[ch], (ch,)))
            d.added = as_messages(child[ch], (ch,)) or []
            out.append(d)
        elif ch not in child:
            out.append(ChannelDiff(ch, "removed", before=tree(parent[ch], (ch,))))
        elif child[ch] != parent[ch]:
            out.append(_changed(ch, child[ch], parent[ch]))
    return out


def _changed(ch: str, new: Any, old: Any) -> ChannelDiff:
    d = ChannelDiff(ch, "changed")
    new_msgs, old_msgs = as_messages(new, (ch,)), as_messages(old, (ch,))
    if new_msgs is not None and old is not None and (old_msgs is not None or old == []):
        old_msgs = old_msgs or []
        ids_new = [m.id for m in new_msgs]
        ids_old = [m.id for m in old_msgs]
        if all(ids_new) and all(ids_old):
            before = {m["id"]: m for m in old if isinstance(m, dict)}
            d.added = [m for m in new_msgs if m.id not in before]
            d.removed = [m for m in old_msgs if m.id not in set(ids_new)]
            d.edited = [
                m
                for m, raw in zip(new_msgs, new, strict=True)
                if m.id in before and raw != before[m.id]
            ]
            return d
        if new[: len(old)] == old:
            d.added = new_msgs[len(old) :]
            return d
    if isinstance(new, list) and isinstance(old, list) and new[: len(old)] == old:
        d.appended = Node("list", size=len(new) - len(old), path=(ch,))
        for i, v in enumerate(new[len(old) : len(old) + MAX_ITEMS], start=len(old)):
            d.appended.children.append((str(i), tree(v, (ch, i), 1)))
        d.appended.cut = max(0, len(new) - len(old) - MAX_ITEMS)
        return d
    d.before = tree(old, (ch,))
    d.after = tree(new, (ch,))
    return d


def value_at(values: dict[str, Any], path: list[Any]) -> Any:
    """The value at ``path`` (channel name first, then keys and list indexes)."""
    if not path:
        return values
    cur: Any = values
    for step in path:
        if isinstance(cur, dict):
            cur = cur[str(step)]
        elif isinstance(cur, list):
            cur = cur[int(step)]
        else:
            raise KeyError(step)
    return cur


def full_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=repr)
