"""Reading zerodown.yaml within bounds: size, nesting, aliases, duplicate keys.

    text = read_bounded("zerodown.yaml")      # ConfigError: unreadable, too big, not UTF-8
    data, lines = load_yaml(text, "zerodown.yaml")   # ConfigError with the line of the problem

A configuration is a few kilobytes written by a person. Anything far beyond
that is a mistake (`-f /dev/urandom`) or an attack (an alias bomb that expands
to billions of values, nesting thousands deep), and each is refused before it
can cost more than a fraction of a second: the composer counts depth, aliases
and the values an alias expands to as it builds each node, so no walk over the
document ever sees more than MAX_VALUES. A key written twice is an error, not
"the last one wins".
"""

from __future__ import annotations

from typing import Any

import yaml

from zerodown.errors import ConfigError
from zerodown.schema import clip

MAX_BYTES = 64 * 1024   # the example with every key commented is ~4 KiB
MAX_DEPTH = 32          # mappings and lists inside each other, aliases expanded
MAX_ALIASES = 100
MAX_VALUES = 20_000     # values in the document once every alias is expanded


def read_bounded(path: str) -> str:
    """The file's text: at most MAX_BYTES (read no further), UTF-8."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError as e:
        raise ConfigError(f"cannot read configuration: {e.strerror}; `zerodown init` writes a "
                          "starter one here, -f FILE names another", file=str(path)) from None
    except OSError as e:
        raise ConfigError(f"cannot read configuration: {e.strerror or e}", file=str(path)) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"is larger than {MAX_BYTES // 1024} KiB; a zerodown.yaml is a few "
                          "kilobytes (is -f the right file?)", file=str(path), line=1)
    return decode(raw, str(path))


def decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                          "save it as UTF-8", file=file, line=line) from None


class _Limit(yaml.MarkedYAMLError):
    """A bound was crossed; a YAMLError so it is reported like a syntax error, with its line."""


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that keeps the bounds above while composing, and refuses duplicate keys."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth, self._aliases = 0, 0
        self._open: set[str] = set()  # anchors whose node is being composed (inside it)
        self._weight: dict[int, tuple[int, int]] = {}  # id(node) -> (height, values)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            # (types-PyYAML types an alias event's mark as the C parser's Mark too, which
            # MarkedYAMLError's stub does not take; this pure-Python loader makes yaml.Mark)
            mark = event.start_mark
            if self._aliases > MAX_ALIASES:
                raise _Limit(None, None, f"more than {MAX_ALIASES} aliases",
                             mark)  # type: ignore[arg-type]
            if event.anchor in self._open:
                raise _Limit(None, None, f"alias *{clip(event.anchor)} refers to a value that "
                             "contains it (a loop)", mark)  # type: ignore[arg-type]
            return super().compose_node(parent, index)
        self._depth += 1
        anchor = getattr(event, "anchor", None)
        if self._depth > MAX_DEPTH:
            raise _Limit(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(anchor)
        if node is not None:  # (always: the stub allows None)
            self._weigh(node)
        return node

    def _weigh(self, node: yaml.Node) -> None:
        """Height and expanded size from the children's, computed once per node (aliases
        are nodes composed earlier), so an alias bomb is caught in linear time."""
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        weights = [self._weight.get(id(c), (1, 1)) for c in children]
        height = 1 + max((h for h, _ in weights), default=0)
        values = 1 + sum(v for _, v in weights)
        if height > MAX_DEPTH:
            raise _Limit(None, None, f"nested more than {MAX_DEPTH} levels deep once its "
                         "aliases are expanded", node.start_mark)
        if values > MAX_VALUES:
            raise _Limit(None, None, f"holds more than {MAX_VALUES} values once its aliases "
                         "are expanded", node.start_mark)
        self._weight[id(node)] = (height, values)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:
                    continue  # unhashable: the base class says so, with its line
                if first != key_node.start_mark.line + 1:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {clip(str(key))!r} is written twice (first at line "
                        f"{first}); keep one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """(the document's data, the line of every key path) or a ConfigError with its line."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"is larger than {MAX_BYTES // 1024} KiB; a zerodown.yaml is a few "
                          "kilobytes", file=file, line=1)
    loader = None
    try:
        loader = BoundedLoader(text)  # reads (and checks) the first characters already
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {_problem(e)}", file=file, line=_line(e, text)) from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise ConfigError(f"not valid YAML: {clip(str(e))}", file=file, line=1) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, key_lines(node, "", {})


def key_lines(node: yaml.Node | None, path: str, out: dict[str, int]) -> dict[str, int]:
    """The line each key path starts at (bounded: the loader limited depth and size)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            p = f"{path}.{k.value}" if path else str(k.value)
            out.setdefault(p, k.start_mark.line + 1)
            key_lines(v, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[f"{path}[{i}]"] = item.start_mark.line + 1
            key_lines(item, f"{path}[{i}]", out)
    return out


def _problem(e: yaml.YAMLError) -> str:
    if isinstance(e, yaml.reader.ReaderError):
        char = chr(e.character) if isinstance(e.character, int) else e.character
        return f"character {char!r} is not allowed in YAML (use an escape in a quoted string)"
    return clip(str(getattr(e, "problem", None) or e))


def _line(e: yaml.YAMLError, text: str) -> int | None:
    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        return mark.line + 1
    position = getattr(e, "position", None)  # a ReaderError: an offset, no mark
    return 1 if position is None else text.count("\n", 0, position) + 1
