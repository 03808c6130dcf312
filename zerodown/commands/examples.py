"""One worked example per command, shown at the end of its `--help`.

The names fit the starter config (`zerodown init`: service `web`, releases
v1..v3): after `up` (v1 is r1) and `deploy v2` with the default rolling
surge, r2's instances live in slots 2 and 3, hence `web-r2-s2`.
"""

from __future__ import annotations

EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": ("zerodown init --service shop --port 8080",),
    "validate": ("zerodown validate -f zerodown.yaml",),
    "schema": ("zerodown schema > zerodown.schema.json",),
    "hosts": ("zerodown hosts", "zerodown hosts -f fleet.yaml", "zerodown hosts --forget app2",
              "zerodown hosts --take-over"),
    "up": ("zerodown up", "zerodown up --version v1"),
    "deploy": ("zerodown deploy v2", "zerodown deploy v2 -m 'fix the login redirect'",
               "zerodown deploy v3 --strategy canary --steps '10,pause 30s,50'",
               "zerodown deploy v3 --strategy in-place --batch-size 50%",
               "zerodown deploy v3 --strategy ab-test --split 20 --detach",
               "zerodown deploy v3 --strategy blue-green --set strategy.preview_header=X-Preview"),
    "plan": ("zerodown plan v2 --strategy canary --steps '10,pause 30s,50,pause'",
             "zerodown plan v2 --json",
             "zerodown plan v2 --strategy canary "
             "--set 'strategy.steps=[{weight: 10}, {analysis: {success_rate: 0.99}}]'"),
    "status": ("zerodown status --watch", "zerodown status --json"),
    "pause": ("zerodown pause --reason 'error rate looks odd'",),
    "resume": ("zerodown resume",),
    "promote": ("zerodown promote", "zerodown promote --full"),
    "abort": ("zerodown abort",),
    "rollback": ("zerodown rollback", "zerodown rollback --to v1"),
    "history": ("zerodown history -v -n 5", "zerodown history --json -n 1"),
    "logs": ("zerodown logs web-r2-s2 -n 20", "zerodown logs --since 10m --follow",
             "zerodown logs --all --since 17:05", "zerodown logs proxy --follow"),
    "exec": ("zerodown exec -- bin/migrate", "zerodown exec --all -- cat VERSION",
             "zerodown exec --host app2 --timeout 10m -- sh -c 'bin/check && bin/report'",
             "zerodown exec --version v3 -- python3 manage.py showmigrations"),
    "down": ("zerodown down",),
    "controller": ("zerodown controller", "zerodown controller --foreground --api-listen "
                   "127.0.0.1:7070", "zerodown controller --stop"),
    "completion": ('eval "$(zerodown completion bash)"',
                   "zerodown completion fish > ~/.config/fish/completions/zerodown.fish"),
    "token": ("zerodown token create ci > ci.token",
              "zerodown --server http://10.0.0.5:7070 --token-file ci.token status"),
}


def epilog(command: str) -> str | None:
    lines = EXAMPLES.get(command)
    return None if lines is None else "examples:\n" + "\n".join(f"  {line}" for line in lines)
