"""The words of zerodown.yaml's reference: what every key does, and an example of it.

Keyed by *doc path*: "app.env", "strategy.max_surge", and for the parts that appear
in several places, their own name (SHARED): "analysis.success_rate", "hook.timeout",
"match.header", "sticky.mode", "step.weight", "secret.file". config_reference.py
merges them into the JSON Schema and renders docs/config.md from it. One table on
purpose: a key's words are found, added and reviewed in one place.
"""

from __future__ import annotations

from typing import Any


# Parts that appear in several places are described once, under their own name.
SHARED = {"analysis": "analysis", "pre_promotion_analysis": "analysis",
          "post_promotion_analysis": "analysis", "sticky": "sticky", "match": "match",
          "secrets": "secret", "steps": "step", "pre_promotion_shadow": "shadow"}

W = dict[str, tuple[str, Any]]
WORDS: W = {
    # --- the service
    "service": ("The service's name: instance names (`shop-r3-s0`), metrics labels and the "
                "state store use it.", "shop"),
    "listen": ("Where users connect: the load balancer's listener, `host:port`.",
               "127.0.0.1:8080"),
    "instances": ("How many instances serve when no deployment runs.", 4),
    "drain_timeout": ("Longest wait for an instance's in-flight requests after it left the "
                      "routing table, before it is stopped anyway.", "30s"),
    "stop_grace": ("After SIGTERM, how long an instance may take to exit before SIGKILL.",
                   "10s"),
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
                          "null: no limit.", "10m"),
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
    "router": ("The load balancer: `embedded` (zerodown's own proxy), `haproxy` or `nginx`; "
               "`router: haproxy` is short for `{kind: haproxy}`.", {"kind": "haproxy"}),
    "runtime": ("Where instances run: `local` processes on this machine, or `ssh` hosts.",
                "local"),
    "strategy": ("How a new version replaces the old one; `strategy: in-place` is short for "
                 "`{kind: in-place}`.", {"kind": "rolling", "max_surge": 1}),
    "hooks": ("Commands or webhooks run at the moments of a deployment.", None),
    "tls": ("The listener speaks https with these certificates (paths relative to this file; "
            "each file readable, each key matching its certificate). The embedded proxy "
            "reloads changed files without a restart; HAProxy and nginx read them at each "
            "reload. See docs/proxy.md.", None),
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
    "runtime.keep_releases": ("ssh: complete releases kept on each host, newest first "
                              "(2..100, default 5); besides them, a version an instance on "
                              "the host runs and the stable and previous revisions' are "
                              "never removed.",
                              5),
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
    # --- router (options per kind: see ROUTER_OPTIONS)
    "router.kind": ("Which load balancer.", "embedded"),
    "router.metrics": ("embedded: HOST:PORT of a read-only listener serving GET /metrics for "
                       "Prometheus to scrape (the admin socket stays private).", "127.0.0.1:9464"),
    "router.metrics_token_env": ("embedded: a variable of the controller's environment holding "
                                 "the bearer token a scraper must send to router.metrics.",
                                 "ZD_METRICS_TOKEN"),
    "router.http2_prior_knowledge": ("embedded: serve HTTP/2 without TLS (h2c) to clients that "
                                     "open with its preface (`curl --http2-prior-knowledge`); "
                                     "without it the preface gets 400.",
                                     True),
    "router.shared": ("embedded: the name of a proxy several zerodown.yaml files share (one "
                      "listener, each service by `hosts` and `path_prefix`): the first `up` "
                      "starts it, `down` removes only this service; state in "
                      "$ZERODOWN_SHARED_DIR/NAME (default ~/.local/state/zerodown/proxies/"
                      "NAME); with `router.host`, in runtime.state_dir/proxies/NAME there. "
                      "Every file sharing it must say the same `listen:` and `tls:`.", "edge"),
    "router.hosts": ("embedded, with `shared`: the host names this service answers (exact, or "
                     "`*.example.com` for any subdomain); left out: any host no other service "
                     "names. An unknown host gets 404.", ["shop.example.com", "*.shop.example.com"]),
    "router.path_prefix": ("embedded, with `shared`: the path prefix this service answers under "
                           "its hosts (the longest matching prefix wins, on a segment boundary; "
                           "its backends get the path without it, see strip_path_prefix).",
                           "/"),
    "router.strip_path_prefix": ("embedded, with `shared` and `path_prefix`: true (default, as "
                                 "kamal-proxy): `/api/users?x` reaches the backend as "
                                 "`/users?x`, with `X-Forwarded-Prefix: /api`; false: the path "
                                 "goes unchanged.", True),
    "router.socket": ("haproxy, attach mode: the stats socket (`level admin`) of an HAProxy you "
                      "run; zerodown starts nothing and manages one backend of it.",
                      "/run/haproxy/admin.sock"),
    "router.backend": ("haproxy, attach mode: the backend zerodown adds its servers to (its "
                       "balance algorithm must allow dynamic servers).", "app"),
    "router.lanes": ("haproxy, managed: backends made ready for revisions side by side "
                     "(1..64).", 4),
    "router.host": ("Where the load balancer runs: a fleet host (one of runtime.hosts, or a "
                    "Host of runtime.ssh_config) reached over the ssh runtime's connection; its "
                    "files go to `<runtime.state_dir>/routers/<service>` there and health probes "
                    "are made from there. Default: this machine.", "lb1"),
    "router.python": ("embedded, with router.host: the interpreter that runs the proxy there "
                      "(it needs uvloop, httptools and google-re2; zerodown's code is uploaded). "
                      "Default: `python3`.", "/opt/zerodown/bin/python"),
    "router.binary": ("haproxy: the executable (default: `haproxy` on PATH).", "/usr/sbin/haproxy"),
    "router.workers": ('nginx: `worker_processes`, `"auto"` or 1..256.', 2),
    "router.worker_connections": ("nginx: `worker_connections` (16..1000000).", 4096),
    "router.worker_shutdown_timeout": ("nginx: old workers are cut after this on a reload; "
                                       "bounds a drain.", "30s"),
    "router.keepalive_timeout": ("nginx: idle client keep-alive; `0` (the default) closes "
                                 "after each response, so no request is lost on a reload; "
                                 "75s keeps client connections (more throughput; a client "
                                 "that does not retry loses a few requests per reload).",
                                 "75s"),
    "router.keepalive_requests": ("nginx: requests per client connection (1..10000000).", 10000),
    "router.upstream_keepalive": ("nginx: idle connections kept per revision and worker "
                                  "(0..100000).", 64),
    "router.upstream_keepalive_timeout": ("nginx: how long those stay idle.", "60s"),
    "router.response_timeout": ("embedded, haproxy, nginx: how long an instance may take to "
                                "send the first byte of its answer (embedded 60s, HAProxy's "
                                "`timeout server` 120s, nginx's `proxy_read_timeout` 60s); past "
                                "it an idempotent request is tried on another instance (never "
                                "a POST) and the embedded proxy ejects the silent instance. "
                                "Below your clients' own timeout, a host cut off costs no "
                                "request.", "5s"),
    "router.connect_timeout": ("embedded, haproxy, nginx: an instance's TCP connect (embedded "
                               "3s, HAProxy 2s, nginx 3s); past it, another instance.", "1s"),
    "router.queue_timeout": ("embedded: how long a request may wait for a connection to an "
                             "instance whose pool is full (default 3s); past it, another "
                             "instance, else 503. The response timeout counts only once the "
                             "request is sent: a busy instance is never ejected.", "10s"),
    "router.nginx": ("nginx: the executable.", "/usr/sbin/nginx"),
    "router.config": ("nginx, attach mode: the file zerodown writes; your nginx.conf includes it "
                      "inside `http { }` (needs `pid_file`).", "/etc/nginx/conf.d/zerodown.conf"),
    "router.pid_file": ("nginx, attach mode: your nginx master's pid file (reloaded with "
                        "SIGHUP).", "/run/nginx.pid"),
    "router.main_config": ("nginx, attach mode: the nginx.conf `nginx -t -c` checks.",
                           "/etc/nginx/nginx.conf"),
    "runtime.kind": ("`local`: processes on this machine, each in its own session, logs in "
                     "`.zerodown/logs/`. `ssh`: processes on a fleet of hosts over SSH "
                     "(docs/fleet.md).", "local"),
    "runtime.hosts": ("ssh: the hosts, as ssh_config names or `[user@]address[:port]`; slot i "
                      "runs on host i mod N.", ["app1", "deploy@10.0.0.13:2222"]),
    "runtime.ssh_config": ("ssh: an OpenSSH client config (Host, HostName, User, Port, "
                           "IdentityFile), relative to zerodown.yaml.", "./ssh_config"),
    "runtime.identity_file": ("ssh: the private key to log in with.", "~/.ssh/deploy"),
    "runtime.known_hosts": ("ssh: the host keys trusted; an unknown key is refused "
                            "(default `~/.ssh/known_hosts`).", "~/.ssh/known_hosts"),
    "runtime.instances_per_host": ("ssh: instances on each host; must equal `instances` / "
                                   "hosts (or leave it out: `instances` spreads evenly).", 2),
    "runtime.state_dir": ("ssh: zerodown's directory on each host (registry, logs, agent; "
                          "default `/var/lib/zerodown`).", "/var/lib/zerodown"),
    "runtime.connect_timeout": ("ssh: how long one connection's set-up may take (default 10s).",
                                "10s"),
    "runtime.command_timeout": ("ssh: how long one remote step may take (default 60s).", "60s"),
    "runtime.keepalive": ("ssh: a silent connection is probed this often; 3 unanswered probes "
                          "drop it (default 15s).", "15s"),
    # --- strategy
    "strategy.kind": ("The strategy: `in-place`, `rolling`, `blue-green`, `canary` or "
                      "`ab-test`.", "canary"),
    "strategy.batch_by": ("in-place and rolling with runtime ssh: `host` replaces "
                          "`batch_size` hosts at a time, each whole before the next (Kamal's "
                          "boot limit); `count` (default) paces by instances.", "host"),
    "strategy.batch_size": ("in-place: instances replaced in their own slots at a time (a count "
                            "or a percentage of `instances`, rounded down, at least 1); capacity "
                            "dips by it. With `batch_by: host` (in-place or rolling): hosts at a "
                            "time (a count or a percentage of the hosts).", "25%"),
    "strategy.max_surge": ("rolling: new instances started above `instances` (rounded up), "
                           "counted across the fleet; 0 replaces in turn. Instances already "
                           "out of the routing table (draining, exiting) are not counted, as "
                           "in Kubernetes (docs/strategies.md).", 1),
    "strategy.max_unavailable": ("rolling: instances that may be out of service at once "
                                 "(rounded down), counted across the fleet. Not both 0.", 0),
    "strategy.max_surge_per_host": ("rolling with runtime ssh: at most this many instances "
                                    "above what a host ran (or its share of `instances`) on "
                                    "any one host at once: its room for extra instances "
                                    "(default: only max_surge limits).", 1),
    "strategy.auto_promote": ("blue-green: `false` waits for `zerodown promote` after the "
                              "preview.", False),
    "strategy.scale_down_delay": ("blue-green: blue stays up this long after the switch, so "
                                  "`zerodown rollback` is a table switch.", "30s"),
    "strategy.keep_previous": ("blue-green: `true` keeps blue running outside the table after "
                               "that, as the next rollback's target.", False),
    "strategy.preview_header": ("blue-green and canary: requests with this header set to 1 "
                                "reach the new revision before any user does (null: none; a "
                                "canary has none unless set).", "X-Zerodown-Preview"),
    "strategy.pause_timeout": ("blue-green (with `auto_promote: false`) and ab-test: the pause "
                               "that waits for `zerodown promote` ends by itself after this, "
                               "with `pause_then` (null: it waits for a person).", "1h"),
    "strategy.pause_then": ("blue-green and ab-test: what a timed-out pause does: `abort` "
                            "(every user back to the stable revision) or `promote`.", "promote"),
    "strategy.preview_listen": ("blue-green: a second listener for the preview (not supported "
                                "yet: refused).", None),
    "strategy.pre_promotion_analysis": ("blue-green: an analysis of green before the switch.",
                                        {"success_rate": 0.99}),
    "strategy.pre_promotion_shadow": ("blue-green: copies of users' requests to green before "
                                      "the switch, its answers compared with blue's (below).",
                                      {"duration": "2m", "max_diff_rate": 0.001}),
    "strategy.post_promotion_analysis": ("blue-green: an analysis after the switch, while blue "
                                         "still runs.", {"max_success_rate_drop": 0.01}),
    "strategy.steps": ("canary: the steps, in order: `{weight: N}`, `{pause: 30s}`, "
                       "`{pause: {}}` (until `zerodown resume`/`promote`), `{analysis: {...}}`, "
                       "`{shadow: {...}}` (before the first weight).",
                       [{"weight": 10}, {"pause": "1m"}, {"weight": 50}, {"pause": {}}]),
    "strategy.canary_instances": ("canary and ab-test: a fixed number of new instances; by "
                                  "default scaled to each weight.", 1),
    "strategy.match": ("canary and ab-test: requests matching a rule always reach the new "
                       "revision, whatever the weight.", [{"header": "X-Canary", "equals": "1"}]),
    "strategy.sticky": ("canary and ab-test: how a user keeps to one side of the split "
                        "(ab-test default: a cookie `zerodown_ab` the proxy sets, 30 days; "
                        "`{max_age: 3600}` alone tunes that default, a `mode` or `name` "
                        "says the whole sticky).",
                        {"mode": "header", "name": "X-User-Id"}),
    "strategy.analysis": ("canary: a background analysis through every step; the canary is "
                          "promoted only once it passed.", {"max_success_rate_drop": 0.01}),
    "strategy.split": ("ab-test: percent of users on the new version until `zerodown promote` "
                       "(B wins) or `abort` (A stays).", 20),
    "step.weight": ("Percent of traffic to the canary from this step on.", 25),
    "step.pause": ("Wait this long, or with `{}` until `zerodown resume` or `promote`; "
                   "`{timeout: 1h, then: abort}` (or `then: promote`) ends a held pause by "
                   "itself after that long.", "5m"),
    "step.analysis": ("Judge the canary before going on; a failure aborts.",
                      {"success_rate": 0.99}),
    "step.shadow": ("Before the first weight: copies of users' requests to the canary, its "
                    "answers compared with stable's while users stay on stable (below).",
                    {"duration": "1m", "ignore": ["$.time"], "max_diff_rate": 0.001}),
    # --- shadow
    "shadow.percent": ("Percent of the matching requests copied.", 100),
    "shadow.duration": ("How long copies are compared at most; with `max_diff_rate` the step "
                        "ends once the check decides, undecided by then is inconclusive.", "1m"),
    "shadow.methods": ("Request methods copied. Beyond GET, HEAD and OPTIONS a copy repeats "
                       "what the request changes: listed only on purpose (validate and plan "
                       "warn).", ["GET", "HEAD"]),
    "shadow.headers": ("Response headers compared by name, beside the status code.", ["ETag"]),
    "shadow.ignore": ("JSON paths left out of the body's comparison (`$.a.b`, `$.items[*].id`, "
                      "`$.*`).", ["$.time", "$.request_id"]),
    "shadow.body": ("`json`: compared as JSON (byte for byte when a side is not JSON); "
                    "`exact`: byte for byte; `none`: not compared.", "json"),
    "shadow.max_diff_rate": ("A check: at most this share of compared copies may differ, judged "
                             "by the analysis's sequential test; a failure aborts before any "
                             "user reaches the new revision (null: no check, only watched).",
                             0.001),
    "shadow.max_false_alarm": ("The check's chance of failing a revision within "
                               "`max_diff_rate`.", 0.01),
    "shadow.min_compared": ("Fewer compared copies than this never pass the check.", 100),
    "shadow.timeout": ("A copy the new revision has not answered within this is dropped "
                       "(counted as timed out, not compared).", "2s"),
    "match.header": ("Match on this request header...", "X-Canary"),
    "match.cookie": ("... or on this cookie.", "beta"),
    "match.equals": ("The value must be exactly this...", "1"),
    "match.regex": ("... or match this regular expression (RE2 syntax: linear time, no "
                    "backreferences).", "^(alice|bob)$"),
    "sticky.mode": ("`cookie`: the proxy sets a cookie; `header` or `cookie-hash`: a hash of "
                    "that header or cookie, which names the user.", "cookie-hash"),
    "sticky.name": ("The header or cookie.", "session"),
    "sticky.max_age": ("cookie mode: the cookie's lifetime in seconds (0: a session cookie).",
                       86400),
    # --- analysis
    "analysis.interval": ("How often metrics are read.", "10s"),
    "analysis.count": ("fixed method: measurements taken.", 3),
    "analysis.min_requests": ("Fewer requests than this is inconclusive, not failed.", 100),
    "analysis.success_rate": ("Non-5xx share the revision must keep, 0..1.", 0.99),
    "analysis.latency_p99": ("The revision's p99 latency must stay under this.", "300ms"),
    "analysis.max_success_rate_drop": ("At most this far below the stable revision's success "
                                       "rate, 0..1 (0.01: one point).", 0.01),
    "analysis.max_latency_ratio": ("p99 at most this times the stable revision's, in the same "
                                   "window.", 1.2),
    "analysis.failure_limit": ("fixed method: failed measurements tolerated.", 1),
    "analysis.method": ("`sequential`: fail as soon as the revision is clearly worse, pass once "
                        "it is clearly within the thresholds; `fixed`: `count` measurements "
                        "every `interval` (Flagger's shape).", "sequential"),
    "analysis.max_false_alarm": ("sequential: the chance of failing a revision that is within "
                                 "the thresholds.", 0.01),
    "analysis.max_duration": ("sequential: undecided after this is inconclusive (default: 3x "
                              "the time the checks need at the traffic measured in the first "
                              "seconds, 30s to 15m; said before judging).", "5m"),
    "analysis.on_inconclusive": ("Undecided at `max_duration`: `pause` for a person (abort, "
                                 "if users are on the new revision), or `wait` on for a "
                                 "verdict.", "pause"),
    "analysis.unanswered_after": ("A request the revision leaves unanswered this long counts as "
                                  "failed, and slower than any latency bound.", "10s"),
    "analysis.prometheus": ("Read metrics from this Prometheus instead of the proxy.",
                            "http://127.0.0.1:9090"),
    "analysis.query": ("A PromQL query measured every `interval` (`{service}`, `{revision}`, "
                       "`{window}` filled in); needs `prometheus`.",
                       'sum(rate(errors_total{revision="{revision}"}[{window}]))'),
    "analysis.query_max": ("The query's value must stay at most this...", 0.05),
    "analysis.query_min": ("... and at least this.", 1),
    "analysis.prometheus_token_env": ("Send `Authorization: Bearer` with the token in this "
                                      "variable of the controller's environment (read when "
                                      "asked, never stored).", "PROMETHEUS_TOKEN"),
    "analysis.prometheus_token_file": ("... or the token in this file (relative to "
                                       "zerodown.yaml).", "secrets/prometheus.token"),
    "analysis.prometheus_templates": ("PromQL for `requests` and `failures` (counters) and "
                                      "`latency` (histogram buckets by `le`), with `{service}` "
                                      "and `{revision}`, when your exporter is not the embedded "
                                      "proxy's `/metrics`.",
                                      {"requests": 'sum(http_requests_total{job="{service}",'
                                                   'version="{revision}"})'}),
    "analysis.prometheus_templates.requests": ("Requests so far (a counter).",
                                               'sum(http_requests_total{version="{revision}"})'),
    "analysis.prometheus_templates.failures": ("Failed (5xx) requests so far (a counter).",
                                               'sum(http_requests_total{version="{revision}",'
                                               'code=~"5.."})'),
    "analysis.prometheus_templates.latency": ("Latency histogram buckets, one series per `le`.",
                                              'sum by (le) (http_request_duration_seconds_bucket'
                                              '{version="{revision}"})'),
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
