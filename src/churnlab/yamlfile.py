"""Reading YAML config files safely: YAML's safe loader, a key given twice refused, and a
document whose aliases expand past a bound refused before it is built (aliases nested in
aliases grow exponentially: the "billion laughs")."""

from __future__ import annotations

import yaml

from churnlab.strict import clip, show

__all__ = ["MAX_YAML_VALUES", "load_yaml", "yaml_problem"]

MAX_YAML_VALUES = 100_000


def load_yaml(raw: bytes):
    """The one document in ``raw``; ``yaml.YAMLError`` when it is not YAML, repeats a key in a
    mapping, or holds more than ``MAX_YAML_VALUES`` values once its aliases are expanded.

    Examples
    --------
    >>> load_yaml(b"a: &x [1, 2]\\nb: *x\\n")
    {'a': [1, 2], 'b': [1, 2]}
    >>> load_yaml(b"a: 1\\na: 2\\n")
    Traceback (most recent call last):
    ...
    yaml.constructor.ConstructorError: ...key 'a' is given twice in one mapping...
    """
    return yaml.load(raw, Loader=_ConfigLoader)  # noqa: S506 - a safe loader


class _ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML's safe loader, refusing a key given twice in one mapping and a document that
    holds more than ``MAX_YAML_VALUES`` values once its aliases are expanded (aliases
    nested in aliases grow exponentially: the "billion laughs")."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if (key.tag, key.value) in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {show(key.value)} is given twice in one mapping", key.start_mark
                    )
                seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)


def _check_expansion(root) -> None:
    """Count the values of a composed YAML document with every alias expanded, in time linear
    in its nodes; refuse more than ``MAX_YAML_VALUES`` and aliases inside what they name."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack = [(root, False)]

    def children(node):
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return list(node.value) if isinstance(node, yaml.SequenceNode) else []

    while stack:
        node, done = stack.pop()
        if done:
            entered.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children(node))
            if sizes[id(node)] > MAX_YAML_VALUES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_YAML_VALUES:,} values once its aliases are expanded", node.start_mark
                )
        elif id(node) not in sizes:
            if id(node) in entered:
                raise yaml.composer.ComposerError(None, None, "an alias refers to a collection that holds it", node.start_mark)
            entered.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children(node) if id(c) not in sizes)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where in the file and what is wrong."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "malformed"
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        return f"not valid YAML{where}: {clip(problem + context, 160)}"
    first = (str(exc).splitlines() or ["malformed"])[0]
    position = getattr(exc, "position", None)
    return f"not valid YAML{f' at byte {position}' if position is not None else ''}: {clip(first, 160)}"
