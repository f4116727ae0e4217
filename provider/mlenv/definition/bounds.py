"""Bounded work on hostile input: YAML that expands without end (aliases of aliases, a billion
laughs), nesting deeper than any definition needs, numbers too long to print, lone surrogates.
Each is refused with a clear error before anything walks the data."""

from __future__ import annotations

import yaml

from mlenv.diagnostics.errors import SpecError

MAX_VALUES = 100_000  # values in a document with every alias expanded
MAX_DEPTH = 64  # nested lists and mappings
MAX_INT_DIGITS = 4300  # Python's own limit for int <-> str


class Unbounded(yaml.YAMLError):
    """A document within YAML's grammar but past our bounds; `problem` says which."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, None


def safe_load(text: str):
    """yaml.safe_load, bounded: at most MAX_VALUES values with aliases expanded and MAX_DEPTH levels,
    checked on the composed nodes before anything is built. Raises yaml.YAMLError only."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node)
        return loader.construct_document(node)
    except yaml.YAMLError:
        raise
    except RecursionError:
        raise Unbounded(f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, OverflowError, TypeError) as error:  # int('9'*5000), a bad timestamp…
        raise Unbounded(_first_line(error)) from None
    finally:
        loader.dispose()


def check_tree(data: object, where: str = "definition") -> None:
    """The same bounds for a mapping that did not come from YAML (keyword arguments, provider inputs)."""
    stack, seen = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        problem = _too_big(seen, depth) or _bad_leaf(value)
        if problem:
            raise SpecError(where, problem, "write a plain definition: strings, numbers, lists and mappings of ordinary size")
        if isinstance(value, dict):
            stack += [(item, depth + 1) for pair in value.items() for item in pair]
        elif isinstance(value, (list, tuple)):
            stack += [(item, depth + 1) for item in value]


def _check_nodes(root: yaml.Node) -> None:
    stack, seen = [(root, 1)], 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        problem = _too_big(seen, depth) or (_bad_leaf(node.value) if isinstance(node, yaml.ScalarNode) else None)
        if problem:
            raise Unbounded(problem)
        if isinstance(node, yaml.MappingNode):
            stack += [(item, depth + 1) for pair in node.value for item in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, depth + 1) for item in node.value]


def _too_big(seen: int, depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if seen > MAX_VALUES:
        return f"more than {MAX_VALUES} values once its aliases are expanded"
    return None


def _bad_leaf(value: object) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a string holds a lone surrogate (not a Unicode character)"
    elif isinstance(value, int) and value.bit_length() > MAX_INT_DIGITS * 3.33:
        return f"a number longer than {MAX_INT_DIGITS} digits"
    return None


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
