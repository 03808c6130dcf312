"""Revisions as their snapshot recorded them: the config, the Revision and a strategy
section of a revision, parsed from the store's snapshot once and kept (a parse costs
~50 ms). The engine plans and acts by these, never by today's file: a deployment resumed
after the file changed goes on as it began."""

from __future__ import annotations

import yaml

from zerodown.config import ServiceConfig, parse_config
from zerodown.engine.store import Store
from zerodown.model import Revision
from zerodown.strategies.options import StrategyConfig


class Snapshots:
    def __init__(self, store: Store, config: ServiceConfig):
        """`config`: the engine's own (a revision recorded with its source is given it)."""
        self.store, self.own, self.service = store, config, config.service
        self._configs: dict[int, ServiceConfig] = {}
        self._revisions: dict[int, Revision] = {}

    def config(self, revision: int) -> ServiceConfig:
        """The revision's config: the engine's own when its source is the same."""
        if revision not in self._configs:
            snap = self.store.revision(self.service, revision).config
            self._configs[revision] = self.own if snap["source"] == self.own.source else \
                parse_config(yaml.safe_dump(snap["source"]), file=snap.get("file") or "zerodown.yaml")
        return self._configs[revision]

    def revision(self, number: int) -> Revision:
        if number not in self._revisions:
            cfg = self.config(number)
            self._revisions[number] = Revision(self.service, number, self.store.revision(
                self.service, number).version, cfg.app, cfg.health)
        return self._revisions[number]

    def strategy(self, revision: int, section: dict) -> StrategyConfig:
        """The revision's config with `section` as its strategy."""
        cfg = self.config(revision)
        if section == (cfg.source.get("strategy") or {}):
            return cfg.strategy  # the revision's own: parsed already (a parse costs ~50 ms)
        source = {k: v for k, v in cfg.source.items() if k != "strategy"}
        return parse_config(yaml.safe_dump({**source, **({"strategy": section} if section else {})})
                            ).strategy
