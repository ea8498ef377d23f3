"""The shape of a generated Virtual Account tree and its MPTT numbering, worked out before it is written.

Nodes are dicts (`index`, `parent`, `level`, `children`, `name`; `id`, `lft`, `rght`, `tree_id` once
numbered), so a tree of thousands of VAs is written in one COPY with its nested-set columns filled in.
"""

from __future__ import annotations

import random

KINDS = ["Region", "Country", "Site", "Building", "Floor", "Room"]


def shape_tree(rng: random.Random, count: int, max_depth: int, label: str) -> list[dict]:
    """`count` nodes in trees of at most `max_depth` levels: wide (shallow parents preferred), deep somewhere."""
    roots = max(1, min(count // 40, 25)) if count > 10 else max(1, count // 3)
    nodes: list[dict] = []
    for i in range(count):
        if i < roots:
            parent, level = None, 0
        else:
            # Prefer shallow parents so the tree is wide, but reach max_depth somewhere.
            candidates = [n for n in nodes[-400:] if n["level"] < max_depth - 1]
            parent = rng.choice(candidates) if candidates else rng.choice(nodes[:roots])
            level = parent["level"] + 1
        kind = KINDS[min(level, len(KINDS) - 1)]
        nodes.append(
            {"index": i, "parent": parent, "level": level, "children": [], "name": f"{label} {kind} {i + 1:04d}"}
        )
        if parent is not None:
            parent["children"].append(nodes[-1])
    return nodes


def number_trees(nodes: list[dict], *, first_id: int, first_tree_id: int) -> None:
    """Give the nodes ids from `first_id`, and each root's tree a `tree_id` (from `first_tree_id`) and
    the nested-set `lft`/`rght` numbers django-mptt keeps."""
    for node in nodes:
        node["id"] = first_id + node["index"]
    tree_id = first_tree_id
    for node in nodes:
        if node["parent"] is None:
            _number(node, 1, tree_id)
            tree_id += 1


def _number(node: dict, left: int, tree_id: int) -> int:
    """Number `node`'s subtree from `left` (depth-first); returns the next free number."""
    node["lft"] = left
    node["tree_id"] = tree_id
    right = left + 1
    for child in node["children"]:
        right = _number(child, right, tree_id)
    node["rght"] = right
    return right + 1
