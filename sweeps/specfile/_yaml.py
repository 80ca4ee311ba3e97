"""Reading a spec's YAML safely, and saying where it is wrong.

Before anything is built from a spec: its size, its encoding (UTF-8), its nesting depth (read from the flat
stream of parse events, without recursion), a key given twice in one mapping (YAML would keep the last one
silently), aliases that contain themselves or expand to more than MAX_SPEC_NODES values, and non-finite numbers
are refused. `Ctx.fail` makes every error name the file, the key path and the line.
"""

from __future__ import annotations

import math

import yaml

from record.errors import SpecError
from record.folder import MAX_SPEC_BYTES, read_spec_text

__all__ = ["Ctx", "Locator", "MAX_SPEC_BYTES", "MAX_SPEC_DEPTH", "MAX_SPEC_NODES", "SpecError", "TOP_KEYS",
           "check_aliases", "check_depth", "check_duplicate_keys", "check_finite", "check_spec_file", "read_spec_text",
           "read_yaml"]

TOP_KEYS = {  # a spec's keys; each is validated where it is parsed (sweeps.specfile._parse)
    "name", "description", "base", "parameters", "method", "metric", "mode", "early_stopping", "num_samples",
    "seeds", "resources", "max_concurrent", "max_failures", "search_seed", "evaluation", "final_num_samples", "scales",
    "published", "claims", "budget", "plugins", "trainable", "config",
}




MAX_SPEC_NODES = 100_000  # values in a spec once its aliases are expanded
MAX_EXPANDED_CHARS = 4 * MAX_SPEC_BYTES  # characters of its values once its aliases are expanded
MAX_SPEC_DEPTH = 64  # nesting of mappings and lists


def check_depth(text: str, source: str) -> None:
    """Refuse YAML nested deeper than MAX_SPEC_DEPTH, read as a flat stream of events (no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_SPEC_DEPTH:
                raise SpecError(f"{source}, line {event.start_mark.line + 1}: the YAML is nested more than "
                                f"{MAX_SPEC_DEPTH} levels deep; a spec is a few levels deep.")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _key_value(k: yaml.ScalarNode, constructor: yaml.constructor.SafeConstructor) -> tuple:
    """A mapping key as the mapping YAML builds holds it: two spellings of one value (`1` and `0x1`, `1` and `1.0`,
    `true` and `yes`) are one key, as they are to a Python dict; text that does not construct (a tag PyYAML
    refuses, met later) by its spelling."""
    try:
        value = constructor.construct_object(k)
        hash(value)
    except (yaml.YAMLError, TypeError, ValueError):
        return (k.tag, k.value)
    return (value,)


def check_duplicate_keys(node, source: str) -> None:
    """Refuse a key given twice in one mapping, with both lines: YAML keeps the last and drops the first without a
    word (two `parameters:` blocks would sweep the second only). Merge keys (`<<`) may override, as YAML says."""
    seen_nodes: set[int] = set()
    constructor = yaml.constructor.SafeConstructor()  # one per spec: it keeps every node it has built
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if id(n) in seen_nodes:
            continue
        seen_nodes.add(id(n))
        if isinstance(n, yaml.MappingNode):
            first: dict[tuple, int] = {}
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    key = _key_value(k, constructor)
                    line = k.start_mark.line + 1
                    if key in first:
                        raise SpecError(f"{source}, line {line}: the key `{k.value}` is given twice in one mapping "
                                        f"(lines {first[key]} and {line}); YAML would keep the second and silently "
                                        "drop the first. Keep one.")
                    first[key] = line
                stack += [k, v]
        elif isinstance(n, yaml.SequenceNode):
            stack += n.value


def check_aliases(node, source: str) -> None:
    """Refuse an alias that contains itself, and a spec whose aliases expand to more than MAX_SPEC_NODES values or
    MAX_EXPANDED_CHARS characters of them (a few hundred bytes of nested aliases can stand for billions of values,
    and a thousand aliases of one long text for gigabytes), counting each node once."""
    sizes: dict[int, tuple[int, int]] = {}  # node -> (values, characters) it stands for
    open_: set[int] = set()

    def size(n) -> tuple[int, int]:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in open_:
            raise SpecError(f"{source}, line {n.start_mark.line + 1}: a YAML alias refers to a value that contains "
                            "it (a recursive alias); write the value out instead.")
        open_.add(id(n))
        if isinstance(n, yaml.MappingNode | yaml.SequenceNode):
            parts = [size(x) for kv in n.value for x in (kv if isinstance(n, yaml.MappingNode) else (kv,))]
            total = (1 + sum(p[0] for p in parts), sum(p[1] for p in parts))
        else:
            total = (1, len(n.value))
        open_.discard(id(n))
        if total[0] > MAX_SPEC_NODES:
            raise SpecError(f"{source}, line {n.start_mark.line + 1}: with its YAML aliases expanded the spec holds "
                            f"more than {MAX_SPEC_NODES} values; a spec may hold at most that many.")
        if total[1] > MAX_EXPANDED_CHARS:
            raise SpecError(f"{source}, line {n.start_mark.line + 1}: with its YAML aliases expanded the spec's values "
                            f"hold more than {MAX_EXPANDED_CHARS} characters; a spec may hold at most that many.")
        sizes[id(n)] = total
        return total

    if node is not None:
        size(node)


def check_finite(value, ctx, path: tuple) -> None:
    """Every number of the spec is finite: NaN and infinity are refused where they stand."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ctx.fail(path, f"is {value!r}, but must be a finite number.")
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, ctx, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_finite(v, ctx, path + (i,))


class Locator:
    """Maps key paths to line numbers of the YAML source."""

    def __init__(self, node):
        self.lines: dict[tuple, int] = {}
        self._seen: set[int] = set()  # a node an alias repeats is walked once, at its first place
        if node is not None:
            self._walk(node, ())

    def _walk(self, node, path):
        if id(node) in self._seen:
            return
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = path + (k.value,)
                self.lines[p] = k.start_mark.line + 1
                self._walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self.lines[path + (i,)] = v.start_mark.line + 1
                self._walk(v, path + (i,))

    def line(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class Ctx:
    def __init__(self, source: str, locator: Locator, prefix: tuple = ()):
        self.source, self.locator, self.prefix = source, locator, prefix

    def fail(self, path: tuple, message: str) -> SpecError:
        full = self.prefix + tuple(path)
        dotted = ".".join(str(p) for p in full) or "(top level)"
        line = self.locator.line(full)
        where = f"{self.source}" + (f", line {line}" if line else "")
        return SpecError(f"{where}: `{dotted}`: {message}")


def read_yaml(text: str, source: str) -> tuple[dict, "Ctx"]:
    """A spec's text as a mapping of known top-level keys, and the Ctx that locates its keys: everything about it
    that is YAML (size, depth, a key given twice, aliases, finite numbers, the top-level keys) checked here, with
    PyYAML alone, before the rest of the spec is read."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{source}: the spec is {len(text)} characters long; a spec may have at most {MAX_SPEC_BYTES}.")
    try:
        check_depth(text, source)  # before the recursive composer meets it
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        check_duplicate_keys(node, source)
        check_aliases(node, source)  # before anything expands what aliases repeat
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise SpecError(f"{source}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise SpecError(f"{source}: the YAML is nested too deeply to read; a spec is a few levels deep.") from None
    ctx = Ctx(source, Locator(node))
    check_finite(raw, ctx, ())
    if not isinstance(raw, dict):
        raise ctx.fail((), "a spec must be a mapping with at least `name`, `base` and `parameters`.")
    unknown = sorted(set(raw) - TOP_KEYS, key=str)
    if unknown:
        raise ctx.fail((unknown[0],), f"unknown key; allowed keys: {', '.join(sorted(TOP_KEYS))}.")
    return raw, ctx


def check_spec_file(path) -> None:
    """What a spec file's text and YAML alone can tell is wrong, refused before torch, Ray or MLflow is imported."""
    read_yaml(read_spec_text(path), str(path))
