"""The words of zerodown.yaml's `router:` section (config_words.py gathers every section's).

One key per option of any load balancer, each starting with the kinds that take it
(`embedded:`, `haproxy:`, `nginx:`); which kind takes which option is each driver's
own table (routers/*_options.py), checked against these by tests/unit/test_config_reference.py.
"""

from __future__ import annotations

from zerodown.config_words_strategy import W

ROUTER_WORDS: W = {
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
    "router.binary": ("haproxy, managed: the executable (default: `haproxy` on PATH).", "/usr/sbin/haproxy"),
    "router.workers": ('nginx, managed: `worker_processes`, `"auto"` or 1..256.', 2),
    "router.worker_connections": ("nginx, managed: `worker_connections` (16..1000000).", 4096),
    "router.worker_shutdown_timeout": ("nginx, managed: old workers are cut after this on a reload; "
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
    "router.response_timeout": ("embedded, haproxy (managed), nginx: how long an instance may stay "
                                "silent: after the last request byte it took, before the first "
                                "byte of its answer (embedded 60s, HAProxy's `timeout server` "
                                "120s, nginx's `proxy_read_timeout` 60s); past it an idempotent "
                                "request is tried on another instance (never a POST) and the "
                                "embedded proxy ejects the silent instance. Also the longest "
                                "pause between two reads of an answer: then it is cut. A client "
                                "slow to send or read is not the instance's silence. "
                                "Below your clients' own timeout, a host cut off costs no "
                                "request.", "5s"),
    "router.connect_timeout": ("embedded, haproxy (managed), nginx: an instance's TCP connect (embedded "
                               "3s, HAProxy 2s, nginx 3s); past it, another instance.", "1s"),
    "router.queue_timeout": ("embedded, haproxy (managed): how long a request may wait for a connection "
                             "to an instance at its `max_conns_per_backend` (embedded 3s, "
                             "HAProxy's `timeout queue` 10s; with haproxy it needs "
                             "`max_conns_per_backend`); past it another instance (embedded), "
                             "else 503. The response timeout counts only once the request is "
                             "sent: a busy instance is never ejected. Not for nginx: open-source "
                             "nginx has no upstream queue (NGINX Plus's `queue`).", "10s"),
    "router.max_conns_per_backend": ("embedded, haproxy (managed): connections to one instance at most; "
                                     "more requests queue in the load balancer, up to "
                                     "`queue_timeout` (embedded 64; HAProxy's server `maxconn`, "
                                     "unbounded unless set). Not for nginx (no queue).", 32),
    "router.body_timeout": ("embedded, nginx: how long a client sending a request body may "
                            "pause while its instance has taken all it was given (embedded "
                            "60s, nginx's `client_body_timeout` 60s); past it 408, and the "
                            "instance is not blamed. Not for haproxy: its `timeout client` "
                            "bounds every client-side pause, not the body's alone.", "30s"),
    "router.nginx": ("nginx: the executable.", "/usr/sbin/nginx"),
    "router.config": ("nginx, attach mode: the file zerodown writes; your nginx.conf includes it "
                      "inside `http { }` (needs `pid_file`).", "/etc/nginx/conf.d/zerodown.conf"),
    "router.pid_file": ("nginx, attach mode: your nginx master's pid file (reloaded with "
                        "SIGHUP).", "/run/nginx.pid"),
    "router.main_config": ("nginx, attach mode: the nginx.conf `nginx -t -c` checks.",
                           "/etc/nginx/nginx.conf"),
}
