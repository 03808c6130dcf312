"""zerodown.yaml's `hooks:` section: moment: [hook, ...], every problem reported at its key.

    hooks.before_trafic: unknown moment "before_trafic" (did you mean "before_traffic"?)
    hooks.before_traffic[0]: needs exactly one of command or http

config.py wires parse_hooks into the SERVICE section; the JSON schema comes with it.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from zerodown.hooks_model import METHODS, MOMENTS, HookSpec, Hooks
from zerodown.schema import (ENV_NAME, TOKEN, Invalid, Kind, boolean, duration, enum, no_nul,
                             optional, parse_duration, shown, string_map, suggest, text)
from zerodown.schema_sections import Context, Section, items, join, nested


def _command(v: Any) -> tuple[str, ...] | str:
    if isinstance(v, str) and v.strip():
        return no_nul(v)
    ok = isinstance(v, list) and v and all(isinstance(a, (str, int, float)) and
                                           not isinstance(a, bool) for a in v)
    if not ok:
        raise Invalid(f'must be a list of arguments like ["./smoke.sh", "--quick"] or a shell '
                      f'command line string, got {shown(v)}')
    return tuple(no_nul(str(a)) for a in v)


def _url(v: Any) -> str:
    parts = urllib.parse.urlsplit(v) if isinstance(v, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f'must be an http:// or https:// URL like "http://127.0.0.1:9000/hook", '
                      f'got {shown(v)}')
    try:
        parts.port  # noqa: B018 — raises on a port out of range
    except ValueError as e:
        raise Invalid(f"{e} in {shown(v)}") from None
    return v


def _positive_duration(v: Any) -> float:
    seconds = parse_duration(v)
    if seconds <= 0:
        raise Invalid(f"must be more than 0s, got {shown(v)}")
    return seconds


def _one_line(key: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise Invalid(f"{key}: must not contain a line break, got {shown(value)}")
    return value


def _method(v: Any) -> str:
    return enum(*METHODS).parse(v.upper() if isinstance(v, str) else v)


HOOK = Section(HookSpec, {
    "command": Kind(_command, {"anyOf": [{"type": "string", "minLength": 1},
                                         {"type": "array", "minItems": 1,
                                          "items": {"type": ["string", "number"]}}]}),
    "http": Kind(_url, {"type": "string", "pattern": "^https?://"}),
    "method": Kind(_method, {"enum": list(METHODS)}),
    "timeout": Kind(_positive_duration, duration().schema),
    "headers": string_map(re.compile(TOKEN), "header name", _one_line),
    "env": string_map(ENV_NAME, "environment variable name", lambda k, v: no_nul(v)),
    "cwd": optional(Kind(lambda v: no_nul(text().parse(v)), text().schema)),
    "name": optional(text()),
    "per_host": boolean()},
    "a command (argv list, or a string run by /bin/sh -c) or an http webhook")
_ONLY_FOR = {"method": "http", "headers": "http", "env": "command", "cwd": "command",
             "per_host": "command"}


def _hook(ctx: Context, item: Any, path: str) -> HookSpec | None:
    if not isinstance(item, dict):
        hint = f" (a command is written {{command: {shown(item)}}})" \
            if isinstance(item, str) else ""
        raise Invalid(f"must be a mapping with command or http, got {shown(item)}{hint}")
    errors = len(ctx.errors)
    HOOK.unknown_keys(ctx, item, path)
    misspelt = len(ctx.errors) > errors  # {commnd: x}: one error, not also "needs command"
    values = HOOK.values(ctx, item, path)
    has = [k for k in ("command", "http") if k in item]
    if len(has) != 1 and not misspelt:
        ctx.error(path, "needs exactly one of command or http" + (", not both" if has else ""))
    for key, kind in _ONLY_FOR.items():
        if len(has) == 1 and key in item and has[0] != kind:
            ctx.error(join(path, key), f"applies to {kind} hooks only (this hook has {has[0]})")
    return HookSpec(**values) if len(ctx.errors) == errors else None


def _hooks_of_moment(ctx: Context, v: Any, path: str) -> tuple[HookSpec, ...]:
    if v is None:
        return ()
    if isinstance(v, dict):  # one hook: short for a list of one
        return tuple(h for h in [_hook(ctx, v, path)] if h)
    if not isinstance(v, list):
        raise Invalid(f"must be a list of hooks, each with command or http, got {shown(v)}")
    return items(ctx, v, path, _hook)


def parse_hooks(ctx: Context, data: Any, path: str) -> Hooks:
    """`hooks:` — moment: [hook, ...]; every problem is reported at its key."""
    if data is None:
        return Hooks()
    if not isinstance(data, dict):
        raise Invalid(f"must be a mapping of moment: [hooks] (moments: {', '.join(MOMENTS)}), "
                      f"got {shown(data)}")
    found = {}
    for moment, value in data.items():
        where = join(path, moment)
        if moment not in MOMENTS:
            ctx.error(where, f"unknown moment {shown(moment)}{suggest(moment, list(MOMENTS))}")
            continue
        try:
            found[moment] = _hooks_of_moment(ctx, value, where)
        except Invalid as e:
            ctx.error(where, str(e))
            continue
        for i, hook in enumerate(found[moment]):
            if hook.per_host and moment != "before_start":
                ctx.error(join(where if isinstance(value, dict) else f"{where}[{i}]",
                               "per_host"), "runs on every host before the version starts "
                                            "there: only at before_start")
    return Hooks(**found)


HOOK_SCHEMA = {**HOOK.schema, "oneOf": [{"required": ["command"]}, {"required": ["http"]}]}
parse_hooks = nested(parse_hooks, {
    "type": "object", "additionalProperties": False,
    "description": "commands or webhooks run at the moments of a deployment; a failing hook "
                   "before promotion aborts it",
    "properties": {m: {"anyOf": [{"type": "array", "items": HOOK_SCHEMA}, HOOK_SCHEMA,
                                 {"type": "null"}]} for m in MOMENTS}})
