"""A small service's zerodown.yaml for engine unit tests, with the keys a test cares about.

    shop_config(strategy="{kind: canary, steps: [...]}", on_failure="pause")

Each keyword is a top-level key and its YAML (flow) text; it replaces the base's key of that
name or is added. The base is what every fake-runtime engine test needs and nothing more.
"""

from __future__ import annotations

from zerodown.config import ServiceConfig, parse_config

BASE = {
    "service": "shop",
    "listen": "127.0.0.1:8080",
    "instances": "3",
    "app": '{command: ["app", "--port", "{port}"]}',
    "health": "{interval: 1s, start_timeout: 5s}",
}


def shop_config(**keys: str) -> ServiceConfig:
    return parse_config("".join(f"{key}: {text}\n" for key, text in {**BASE, **keys}.items()))
