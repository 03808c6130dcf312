"""`zerodown demo [--fleet]`: its command line (zerodown/demo.py on this machine,
zerodown/demo_fleet.py on a practice fleet of 3 hosts)."""

from __future__ import annotations

import signal
import sys
import tempfile
import textwrap
from pathlib import Path

from zerodown import demo, demo_fleet
from zerodown.errors import ZerodownError
from zerodown.fleet_lock import LOCK


def usage() -> str:
    plain = textwrap.fill(demo.__doc__.split("\n\n")[1].replace("\n", " "), 79)
    fleet = textwrap.fill("--fleet: the same on a fleet of 3 hosts this machine builds (as "
                          "root: network namespaces, each with its own sshd), 2 instances "
                          "a host behind the embedded proxy here, with rolling (host by "
                          "host too), blue/green and canary; the table says which hosts ran "
                          "each version, and the fleet is torn down after (on Ctrl-C too). "
                          "It waits, saying so, while another fleet (tests, benchmarks) "
                          f"holds {LOCK}.", 79)
    return (f"usage: zerodown demo [--fleet]\n\n{plain}\n\n{fleet}\n\nexamples:\n"
            "  zerodown demo\n"
            "  bash scripts/demo.sh            # sets up everything first\n"
            "  sudo bash scripts/demo.sh --fleet")


def main(argv: list[str]) -> int:
    # `demo --help` must not start a two-minute demo; nor may a typo
    if argv not in ([], ["--fleet"]):
        asked = argv[0] in ("-h", "--help")
        print(usage(), file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    # a SIGTERM (a `kill`) unwinds as a Ctrl-C does: the instances and the proxy go too
    # (by its default, the demo ended at once and left them all running)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="zd-demo-") as d:
        try:
            if argv:
                return demo_fleet.main(Path(d))  # (says its own interruption: the fleet too)
            return demo.run(Path(d))
        except KeyboardInterrupt:  # its instances and proxy stopped (demo.ship_all)
            print("zerodown demo: interrupted; its instances and proxy are stopped",
                  file=sys.stderr)
            return 130
        except ZerodownError as e:  # passed through (cli.py): said here, as a command says one
            print(f"zerodown demo: error: {e}", file=sys.stderr)
            return 1
