"""The grammar of zerodown.yaml's mappings: sections parsed into frozen dataclasses,
errors collected with their place.

A Section parses a mapping into a frozen dataclass, each key by a value kind
(schema.py) or a nested parser, taking defaults from the dataclass itself.
Errors are collected in a Context, never raised one at a time: the user fixes
them all in one go. list_of reads a list the same way, item by item;
driver_options reads a router's or runtime's own options; refuse_unlike refuses
those of other drivers that one cannot honour, refuse_managed_only those of a router's
managed mode when it is attached to the user's own.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping

from zerodown.errors import ConfigError
from zerodown.schema import Amount, Invalid, Kind, shown, suggest


class Context:
    """Collects every error with its file, line and key path."""

    def __init__(self, file: str | None, lines: dict[str, int],
                 origins: dict[str, str] | None = None):
        self.file, self.lines, self.origins = file, lines, origins or {}
        self.errors: list[ConfigError] = []

    def error(self, path: str, message: str) -> None:
        origin = self._origin(path)
        if origin is not None:
            self.errors.append(ConfigError(message, file=origin, key=path or None))
        else:
            self.errors.append(ConfigError(message, file=self.file, line=self.line(path),
                                           key=path or None))

    def line(self, path: str) -> int | None:
        """The line of `path`, or of its nearest ancestor the file has (the file's first
        line for a top-level key it lacks)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            parent = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path)
            path = "" if parent == path else parent
        return None if self.file is None else 1

    def _origin(self, path: str) -> str | None:
        """The setting of the nearest key: `--steps` over `--strategy canary` for steps."""
        found = [key for key in self.origins
                 if path == key or path.startswith((key + ".", key + "["))]
        return self.origins[max(found, key=len)] if found else None


class Section:
    """A mapping of known keys parsed into a frozen dataclass.

    `fields` maps each key to a Kind or to a nested parser
    (ctx, value, path) -> value with a `.schema` attribute. Defaults come
    from the dataclass; a field without one is required. `check(value)`
    returns a message when keys that parsed one by one disagree together.
    """

    def __init__(self, cls: type, fields: dict[str, Any], doc: str = "",
                 check: Callable[[Any], str | None] | None = None):
        self.cls, self.fields, self.doc, self.check = cls, fields, doc, check
        self._defaults = {f.name: f.default if f.default is not dataclasses.MISSING
                          else f.default_factory() if f.default_factory is not dataclasses.MISSING
                          else dataclasses.MISSING for f in dataclasses.fields(cls)}

    def unknown_keys(self, ctx: Context, data: dict, path: str, also: tuple[str, ...] = ()) -> None:
        allowed = list(self.fields) + list(also)
        for key in data:
            if key not in allowed:
                ctx.error(join(path, key), f"unknown key {shown(key)}{suggest(key, allowed)}")

    def values(self, ctx: Context, data: Any, path: str, base: Any = None) -> dict[str, Any]:
        """Parsed values for every field (defaults where missing or invalid; with `base`,
        a value of this section, its values where missing)."""
        out: dict[str, Any] = {}
        for key, kind in self.fields.items():
            default = getattr(base, key) if base is not None else self._defaults.get(key)
            if key not in data:
                if default is dataclasses.MISSING:
                    ctx.error(join(path, key), "is required")
                out[key] = None if default is dataclasses.MISSING else default
                continue
            try:
                if isinstance(kind, Section) and kind.tunes(default, data[key]):
                    # `sticky: {max_age: 3600}` where the default is a whole Sticky: that
                    # default, tuned (`--set strategy.sticky.max_age=3600` on an A/B test)
                    out[key] = kind(ctx, data[key], join(path, key), base=default)
                    continue
                out[key] = (kind.parse(data[key]) if isinstance(kind, Kind)
                            else kind(ctx, data[key], join(path, key)))
            except Invalid as e:
                ctx.error(join(path, key), str(e))
                out[key] = None if default is dataclasses.MISSING else default
        return out

    def tunes(self, default: Any, data: Any) -> bool:
        """Whether `data` only tunes `default`, a whole value of this section: it names
        none of the keys that say what the value is (those without a default). One that
        names any says it whole: `sticky: {mode: header}` needs its `name` too."""
        return isinstance(default, self.cls) and isinstance(data, dict) and not any(
            self._defaults.get(k) is dataclasses.MISSING for k in data)

    def __call__(self, ctx: Context, data: Any, path: str, base: Any = None) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            ctx.error(path, f"must be a mapping with keys {', '.join(self.fields)}, got {shown(data)}")
            data = {}
        self.unknown_keys(ctx, data, path)
        errors = len(ctx.errors)
        value = self.cls(**self.values(ctx, data, path, base))
        problem = self.check(value) if self.check and len(ctx.errors) == errors else None
        if problem:
            ctx.error(path, problem)
        return value

    @property
    def schema(self) -> dict:
        required = [k for k in self.fields if self._defaults.get(k) is dataclasses.MISSING]
        return {"type": "object", **({"description": self.doc} if self.doc else {}),
                "properties": {k: _with_default(_key_schema(kind, self._defaults.get(k)),
                                                self._defaults.get(k))
                               for k, kind in self.fields.items()},
                **({"required": required} if required else {}),
                "additionalProperties": False}

    @property
    def tuning_schema(self) -> dict:
        """Its schema where the default is a whole value of it, as `tunes` reads that: a
        mapping naming every key without a default (the value said whole), or none of
        them (the default, tuned) — never some."""
        schema = self.schema
        required = schema.pop("required", None)
        if required:
            schema["anyOf"] = [{"required": required},
                               {"not": {"anyOf": [{"required": [k]} for k in required]}}]
        return schema


def _key_schema(kind: Any, default: Any) -> dict:
    """A key's schema: a nested section whose default is a whole value takes tuning."""
    if isinstance(kind, Section) and isinstance(default, kind.cls):
        return kind.tuning_schema
    return kind.schema


def _with_default(schema: dict, default: Any) -> dict:
    """A key's schema with its default as JSON, when it has a simple one (a nested
    section's defaults are on its own keys)."""
    if isinstance(default, Amount):
        default = str(default) if default.percent else default.value
    elif isinstance(default, (tuple, dict)) and not default:
        default = [] if isinstance(default, tuple) else {}
    elif not isinstance(default, (bool, int, float, str)):
        return schema
    return {**schema, "default": default}


def nested(parse: Callable[[Context, Any, str], Any], schema: dict):
    """A parser of a whole sub-tree (it reports its own errors) with its JSON Schema."""
    parse.schema = schema  # type: ignore[attr-defined]  # a function's attribute, read as a Kind's
    return parse


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def list_of(parse_item, item_schema: dict):
    """A list whose items parse_item(ctx, item, "path[i]") reads; each bad item is reported
    with its index and the others are kept, so one run shows every error."""
    def parse(ctx: Context, v: Any, path: str) -> tuple:
        if not isinstance(v, list):
            raise Invalid(f"must be a list, got {shown(v)}")
        return items(ctx, v, path, parse_item)
    return nested(parse, {"type": "array", "items": item_schema})


def items(ctx: Context, v: list, path: str, parse_item) -> tuple:
    out = []
    for i, item in enumerate(v):
        try:
            out.append(parse_item(ctx, item, f"{path}[{i}]"))
        except Invalid as e:
            ctx.error(f"{path}[{i}]", str(e))
    return tuple(x for x in out if x is not None)


# --- a driver's options (router: {kind: ..., ...}, runtime: {kind: ..., ...}) --------

OptionError = Callable[[str, str], ConfigError]


def driver_options(section: str, kind: str, parsers: dict[str, Callable[[Any], Any]],
                   options: Any, *, file: str | None = None, lines: Any = None,
                   refused: Mapping[str, str] | None = None) -> tuple[dict[str, Any], OptionError]:
    """Each option parsed by its parser: (values, error) where error(key, message) is a
    ConfigError naming `section.key` at its line, for the driver's own checks after this;
    a `refused` key (one another driver takes: {key: why this one cannot}), an unknown
    key or an invalid value raises one at once, in that order."""
    lines = lines or {}

    def error(key: str, message: str) -> ConfigError:
        return ConfigError(message, file=file, line=lines.get(f"{section}.{key}",
                                                              lines.get(section)),
                           key=f"{section}.{key}")
    refuse_unlike(options, refused or {}, error)
    values: dict[str, Any] = {}
    for key, raw in options.items():
        if key not in parsers:
            raise error(str(key), f"unknown option for {section} kind {kind} "
                                  f"(allowed: kind, {', '.join(parsers)})")
        try:
            values[key] = parsers[key](raw)
        except Invalid as e:
            raise error(key, str(e)) from None
    return values, error


def refuse_unlike(options: Mapping[str, Any], unlike: Mapping[str, str],
                  error: OptionError) -> None:
    """A key another driver takes that this one cannot honour is refused saying why and what
    to do instead ({key: that}), not called an unknown option; the first one set."""
    for key, why in unlike.items():
        if key in options:
            raise error(key, why)


def refuse_managed_only(options: Mapping[str, Any], attached_by: str,
                        managed_only: Mapping[str, str], error: OptionError) -> None:
    """A router attached to the user's own load balancer (router.`attached_by` set) is not
    rendered or run by zerodown: an option that only shapes what zerodown renders or runs
    would do nothing, so the first one set is refused, {key: where the user sets it instead}."""
    if attached_by not in options:
        return
    for key, instead in managed_only.items():
        if key in options:
            raise error(key, f"not in attach mode (router.{attached_by}): {instead}; "
                             f"remove router.{key}")
