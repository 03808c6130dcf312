"""One host is one host: the name runtime.hosts gives a host that rows recorded under
another name (app1 renamed deploy@app1, an ssh_config alias written as its address),
compared by what each resolves to — user, address and port after ssh_config
(hosts/ssh_connect.identity) — so the host is asked once, under the listed name."""

from __future__ import annotations

from zerodown.hosts.ssh_connect import identity
from zerodown.runtimes.ssh_options import SshOptions, parse_host
from zerodown.schema import Invalid


class ListedNames:
    def __init__(self, options: SshOptions, folder: str):
        self.options, self.folder = options, folder
        self._as: dict[str, str | None] = {spec.name: spec.name for spec in options.hosts}
        self._listed: dict[tuple[str, str, int], str] = {}

    def listed_as(self, name: str) -> str | None:
        """The listed name of the host `name` is; None when the list does not have it.
        Worked out only for a name off the list (rare), then kept: an ssh_config is read
        per name (5.6 ms each with a 100-entry file)."""
        if name in self._as:
            return self._as[name]
        if not self._listed:
            for spec in reversed(self.options.hosts):  # (listed twice: the first name)
                self._listed[self._identity(spec)] = spec.name
        try:
            self._as[name] = self._listed.get(self._identity(parse_host(name)))
        except Invalid:  # not a host name at all (a row of another tool's making)
            self._as[name] = None
        return self._as[name]

    def _identity(self, spec) -> tuple[str, str, int]:
        return identity(spec, self.options, self.folder)
