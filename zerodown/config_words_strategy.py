"""The words of zerodown.yaml's `strategy:` section (config_words.py gathers every section's).

The strategy's own keys, then the parts it is made of, each described once under its own
name (config_words.SHARED): a canary step (`step.`), a shadow (`shadow.`), a match rule
(`match.`), a sticky split (`sticky.`) and an analysis (`analysis.`, also blue/green's
pre- and post-promotion ones).
"""

from __future__ import annotations

from typing import Any

W = dict[str, tuple[str, Any]]

STRATEGY_WORDS: W = {
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
}
