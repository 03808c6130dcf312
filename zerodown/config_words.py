"""The words of zerodown.yaml's reference: what every key does, and an example of it.

Keyed by *doc path*: "app.env", "strategy.max_surge", and for the parts that appear
in several places, their own name (SHARED): "analysis.success_rate", "hook.timeout",
"match.header", "sticky.mode", "step.weight", "secret.file". config_reference.py
merges them into the JSON Schema and renders docs/config.md from it. WORDS is the one
table it reads; the words of the two largest sections live in files of their own:
config_words_router.py (`router:`, every load balancer's options) and
config_words_strategy.py (`strategy:` with its steps, shadow, match, sticky and
analysis). A key's words are found by its section.
"""

from __future__ import annotations

from zerodown.config_words_router import ROUTER_WORDS
from zerodown.config_words_strategy import STRATEGY_WORDS, W


# Parts that appear in several places are described once, under their own name.
SHARED = {"analysis": "analysis", "pre_promotion_analysis": "analysis",
          "post_promotion_analysis": "analysis", "sticky": "sticky", "match": "match",
          "secrets": "secret", "steps": "step", "pre_promotion_shadow": "shadow"}

_OWN: W = {
    # --- the service
    "service": ("The service's name: instance names (`shop-r3-s0`), metrics labels and the "
                "state store use it.", "shop"),
    "listen": ("Where users connect: the load balancer's listener, `host:port`.",
               "127.0.0.1:8080"),
    "instances": ("How many instances serve when no deployment runs.", 4),
    "drain_timeout": ("Longest wait for an instance's in-flight requests after it left the "
                      "routing table, before it is stopped anyway.", "30s"),
    "stop_grace": ("After SIGTERM, how long an instance may take to exit before SIGKILL "
                   "(counted from its first stop's SIGTERM: a stop asked again sends none). "
                   "With `runtime: ssh`, an old instance stopped while new ones still start "
                   "exits at a low CPU priority until they are healthy, for at most "
                   "half of this (docs/strategies.md).", "10s"),
    "on_failure": ("What a failed deployment does: `rollback` to the stable revision at once, "
                   "or `pause` and leave it for a person (`zerodown abort` or `resume`).",
                   "rollback"),
    "on_host_failure": ("With `runtime: ssh`, when a host stops answering mid-deployment "
                        "(no connection, or a step on it with no answer within "
                        "`runtime.command_timeout`): `pause` the deployment naming the host "
                        "(`zerodown resume` goes on once it answers), or `skip` it and go on "
                        "without its slots, said in the events. Never a rollback through a "
                        "host that cannot answer; going back skips it.", "pause"),
    "on_host_return": ("With `on_host_failure: pause` and the controller running: when the "
                       "host the deployment paused for answers again (looked at every few "
                       "seconds), a `host.reachable` event says so and the deployment "
                       "`resume`s by itself (the step that failed runs again), or, with "
                       "`hold`, waits for a person's `zerodown resume` (status says the host "
                       "answers). A pause a person asked for is never resumed by it.",
                       "resume"),
    "progress_deadline": ("A step (not a pause or an analysis) that makes no progress within "
                          "this aborts the deployment (or pauses it, with `on_failure: pause`); "
                          "null: no limit. Keep it longer than `health.start_timeout`, "
                          "`drain_timeout` and the hooks' timeouts: it cuts those steps short "
                          "of their own bounds.", "10m"),
    "require_zero_failed": ("When true, `zerodown deploy` exits 1 if the deployment's proof "
                            "(from the load balancer's own counters) shows a request failed by "
                            "the deployment (a 502/503/504 the load balancer made, a response "
                            "cut), or has no complete proof, even when it succeeded. The "
                            "application's own 5xx do not count.", True),
    "controller": ("The controller daemon: its HTTP API and dashboard, always on "
                   "`.zerodown/controller.sock`.", None),
    "controller.listen": ("Also serve them on TCP at `host:port`, where a bearer token is "
                          "required (`zerodown token create NAME`).", "127.0.0.1:7070"),
    "app": ("What runs for one instance.", None),
    "health": ("How zerodown decides an instance is healthy (before it gets traffic).", None),
    "logs": ("The instances' logs: how large one grows, how many of the ended ones are kept "
             "(the section logs below).", {"max_size": "10MB", "keep_ended": 20}),
    "router": ("The load balancer: `embedded` (zerodown's own proxy), `haproxy` or `nginx`; "
               "`router: haproxy` is short for `{kind: haproxy}`.", {"kind": "haproxy"}),
    "runtime": ("Where instances run: `local` processes on this machine, or `ssh` hosts.",
                "local"),
    "strategy": ("How a new version replaces the old one; `strategy: in-place` is short for "
                 "`{kind: in-place}`.", {"kind": "rolling", "max_surge": 1}),
    "hooks": ("Commands or webhooks run at the moments of a deployment.", None),
    "tls": ("The listener speaks https with these certificates (paths relative to this file; "
            "each file readable, each key matching its certificate: checked by `validate`, "
            "`plan`, `up` and a deployment, which refuse a broken pair naming it, not by "
            "commands that do not need them, so `status` or `down` work through a renewal "
            "gone wrong). Renewed files reach the running load balancer without a deployment "
            "(`check_every`). See docs/proxy.md.", None),
    "tls.cert": ("The default certificate: a PEM chain, served to any name without its own.",
                 "certs/shop.pem"),
    "tls.key": ("The private key of `tls.cert`.", "certs/shop.key"),
    "tls.certificates": ("More certificates, each picked by the host name the client asks "
                         "for (SNI): an exact name before a `*.` wildcard.",
                         [{"names": ["api.example.com", "*.api.example.com"],
                           "cert": "certs/api.pem", "key": "certs/api.key"}]),
    "tls.certificates.names": ("The host names it serves: exact, or `*.example.com` (one "
                               "label deep, as certificates match).", ["api.example.com"]),
    "tls.certificates.cert": ("Its PEM certificate chain.", "certs/api.pem"),
    "tls.certificates.key": ("Its private key.", "certs/api.key"),
    "tls.redirect_http": ("A plain-HTTP listener (`host:port`) that answers every request "
                          "with 308 to the same URL on https.", "0.0.0.0:80"),
    "tls.http2": ("Offer HTTP/2 to clients (ALPN `h2` before `http/1.1`); backends still get "
                  "HTTP/1.1. Off by default: in the embedded proxy an h2 request costs about 6x "
                  "the CPU of an HTTP/1.1 one (benchmarks/README.md). HAProxy and nginx render "
                  "it too.", True),
    "tls.check_every": ("How often the controller looks at the certificate and key files and, "
                        "when they changed (a renewal), hands them to the running load "
                        "balancer with no failed request: HAProxy through its Runtime API, the "
                        "embedded proxy and nginx by SIGHUP, copies sent first to "
                        "`router.host`. A pair that does not load is not handed over (an event "
                        "names the file). `zerodown up` on a running service does it at once "
                        "(e.g. as certbot's --deploy-hook).", "30s"),
    # --- app
    "app.command": ("The command line of one instance, run without a shell (a string is split "
                    "as a shell would). Placeholders: `{version}` (what you deploy), `{port}` "
                    "(chosen per instance), `{slot}` (0, 1, ...), `{instance}` (`shop-r7-s2`), `{host}` (the address the load balancer reaches the instance at: 127.0.0.1 locally, the host's address with `runtime: ssh`).",
                    ["python3", "app.py", "--port", "{port}"]),
    "app.cwd": ("Its working directory, relative to zerodown.yaml's folder; `plan` and "
                "`deploy` refuse a version whose folder does not exist.", "releases/{version}"),
    "app.release": ("runtime ssh: a folder (relative to zerodown.yaml, `{version}` allowed) "
                    "uploaded to every host once per version before any instance changes, "
                    "into `<state_dir>/releases/<service>/<version>`, which is the "
                    "instances' working directory there (app.cwd, if set, is inside it). "
                    "Files an earlier release on the host has are not sent again.",
                    "releases/{version}"),
    "app.shared_dirs": ("runtime ssh with `app.release`: folders inside the release (e.g. "
                        "`uploads`, `log`) kept across releases on each host, in "
                        "`<state_dir>/shared/<service>/<path>` (made there, 0755, when "
                        "missing); in each release the path is a link to it, whatever the "
                        "upload had there (Capistrano's linked_dirs).", ["uploads", "log"]),
    "app.shared_files": ("runtime ssh with `app.release`: files inside the release that each "
                         "host keeps in `<state_dir>/shared/<service>/<path>` (a "
                         "`config/database.yml` not in the repository), linked into each "
                         "release; a host lacking one refuses the deployment, named, before "
                         "anything changes (Capistrano's linked_files).",
                         ["config/database.yml"]),
    "runtime.keep_releases": ("ssh: complete releases kept on each host, newest first "
                              "(2..100); besides them, a version an instance on the host "
                              "runs and the stable and previous revisions' are never "
                              "removed.", 5),
    "app.env": ("Environment variables of each instance (placeholders allowed). Instances "
                "inherit nothing else of the caller's environment but PATH=/usr/local/bin:"
                "/usr/bin:/bin, HOME, USER, LOGNAME, LANG, LC_ALL, TZ and TMPDIR.",
                {"APP_VERSION": "{version}"}),
    "app.env_file": ("A file of `NAME=value` lines (`export`, `#` comments and one pair of "
                     "quotes allowed; nothing expanded) added to the environment; `app.env` "
                     "wins over it. Relative to zerodown.yaml's folder; per version with "
                     "`{version}`.", "releases/{version}/.env"),
    "app.secrets": ("Variables read as each instance starts, from the controller's environment "
                    "or a file; refused at `plan` when missing; their values are never written "
                    "to the state store, the registry or a log. A plain name reads the "
                    "controller's variable of that name.",
                    ["DB_PASSWORD", {"name": "API_KEY", "env": "SHOP_API_KEY"}]),
    "secret.name": ("The variable's name in the instance.", "TLS_KEY"),
    "secret.env": ("Read from this variable of the controller's environment (default: `name`).",
                   "SHOP_API_KEY"),
    "secret.file": ("Read from this file instead (relative to zerodown.yaml; one final newline "
                    "is dropped).", "secrets/tls.key"),
    # --- health
    "health.path": ("The path probed with GET on each instance.", "/healthz"),
    "health.tcp": ("`true`: a TCP connect is the whole check (no HTTP).", False),
    "health.status": ("The HTTP status a healthy instance answers.", 200),
    "health.interval": ("Time between two probes.", "1s"),
    "health.timeout": ("How long one probe may take (at most `start_timeout`).", "2s"),
    "health.healthy_threshold": ("Consecutive passes before an instance counts as healthy "
                                 "(and before the load balancer sends to it again).", 1),
    "health.unhealthy_threshold": ("Consecutive failures of the load balancer's own checks "
                                   "(path, interval, timeout as above; not with `tcp`) that "
                                   "take a routed instance out of traffic, deployment or not.",
                                   3),
    "health.start_timeout": ("A new instance not healthy within this fails the deployment.",
                             "30s"),
    # --- logs
    "logs.max_size": ("The most one instance's log takes on disk (null: no bound). Past half "
                      "of it the log is renamed `<instance>.log.1` (the one before removed) and "
                      "a new one begun, as docker's max-size or logrotate's: the newest half "
                      "at least is always there, and `zerodown logs` reads both. At least 256KB "
                      "(128KB of the newest lines: a boot's and a crash's).", "10MB"),
    "logs.keep_ended": ("How many ended instances' logs of the service are kept, the newest "
                        "(by last write), stopped or crashed alike; older ones are removed "
                        "when an instance ends, once the service's logs number twice this. "
                        "Keep it at `instances` at least, so a crash's log survives the next "
                        "deployment's stops.", 20),
    # --- runtime
    "runtime.kind": ("`local`: processes on this machine, each in its own session, logs in "
                     "`.zerodown/logs/`. `ssh`: processes on a fleet of hosts over SSH "
                     "(docs/fleet.md).", "local"),
    "runtime.hosts": ("ssh: the hosts, as ssh_config names or `[user@]address[:port]`; slot i "
                      "runs on host i mod N.", ["app1", "deploy@10.0.0.13:2222"]),
    "runtime.ssh_config": ("ssh: an OpenSSH client config (Host, HostName, User, Port, "
                           "IdentityFile), relative to zerodown.yaml.", "./ssh_config"),
    "runtime.identity_file": ("ssh: the private key to log in with.", "~/.ssh/deploy"),
    "runtime.known_hosts": ("ssh: the host keys trusted; an unknown key is refused.",
                            "~/.ssh/known_hosts"),
    "runtime.instances_per_host": ("ssh: instances on each host; must equal `instances` / "
                                   "hosts (or leave it out: `instances` spreads evenly).", 2),
    "runtime.state_dir": ("ssh: zerodown's directory on each host (registry, logs, agent).",
                          "/var/lib/zerodown"),
    "runtime.connect_timeout": ("ssh: how long one connection's set-up may take.", "10s"),
    "runtime.command_timeout": ("ssh: how long one remote step may take; a release's "
                                "upload, however long, fails only when nothing moved for "
                                "this long.", "60s"),
    "runtime.keepalive": ("ssh: a silent connection is probed this often; 3 unanswered probes "
                          "drop it. Each idle agent on a host is sent a heartbeat as often, "
                          "and ends after 4 missed (at least 5s).", "15s"),
    # --- hooks
    "hooks.before_start": ("Before the deployment changes any instance: before the new "
                           "revision's first instance starts (in-place: before its first "
                           "batch leaves the table).",
                           [{"command": "./migrate.sh"}]),
    "hooks.after_healthy": ("Once its first instances are healthy.", None),
    "hooks.before_traffic": ("Before the first user gets it: blue/green's preview (and a "
                             "canary's with `preview_header`) is open, and "
                             "`$ZERODOWN_INSTANCES` lists the new instances: smoke tests.",
                             [{"command": ["./smoke.sh", "--quick"], "timeout": "20s"}]),
    "hooks.after_traffic": ("Once users reach it.", None),
    "hooks.after_promote": ("Once it serves everyone (a failure is logged, not fatal).",
                            [{"http": "https://hooks.example.com/deployed"}]),
    "hooks.on_rollback": ("As an abort or rollback begins (a failure is logged).",
                          [{"command": "echo rolled back >> /tmp/x"}]),
    "hook.command": ("Run this: a list runs without a shell, a string with `/bin/sh -c`. It "
                     "gets the ZERODOWN_* variables (README: Lifecycle hooks).",
                     ["./smoke.sh", "--quick"]),
    "hook.http": ("... or call this webhook with the same fields as a JSON body; anything but "
                  "2xx fails it.", "https://hooks.example.com/deploy"),
    "hook.method": ("http: the method.", "POST"),
    "hook.timeout": ("The hook fails after this (a command's process group gets SIGTERM, then "
                     "SIGKILL 2 s later).", "20s"),
    "hook.headers": ("http: request headers.", {"Authorization": "Bearer ..."}),
    "hook.env": ("command: extra environment variables.", {"SMOKE_LEVEL": "1"}),
    "hook.cwd": ("command: working directory, relative to zerodown.yaml's folder (with "
                 "`per_host`: to the release folder).", "scripts"),
    "hook.name": ("How messages and `zerodown plan` name it.", "smoke"),
    "hook.per_host": ("before_start with runtime ssh and `app.release`: run on every host at "
                      "once, in the version's release folder there, once per host and version "
                      "(a marker file there; a changed command runs again), e.g. to build a "
                      "virtualenv; a failure on any host stops the deployment before any "
                      "instance changes (on_failure), each host's output in the event log "
                      "prefixed by its name.", True),
}

WORDS: W = {**_OWN, **ROUTER_WORDS, **STRATEGY_WORDS}
