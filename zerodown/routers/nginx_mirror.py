"""nginx's side of a shadow step, rendered: pure text, no I/O.

While a shadow runs, nginx's `mirror` sends a copy of each user request (GET, HEAD
and OPTIONS only: a copy is replayed to stable too) to zerodown's comparator
(zerodown/shadow/comparator.py), optionally a share of them (split_clients).
nginx_render.py puts these pieces into the http block and each server.
"""

from __future__ import annotations

MIRROR_PATH = "/.zerodown-mirror"


def mirror_upstream(ns: str, address: str, percent: float) -> str:
    upstream = f"upstream {ns}_mirror {{  # the shadow's comparator\n    server {address};\n" \
               "    keepalive 8;\n}"
    if percent >= 100:
        return upstream
    return (f'split_clients "${{request_id}}" ${ns}_mirrored {{  # the share copied\n'
            f"    {round(percent, 2):g}% 1;\n    * \"\";\n}}\n\n" + upstream)


def mirror_location(ns: str, sampled: bool) -> str:
    """Where nginx's mirror subrequests go: safe methods to the comparator, at once
    (nginx holds a client's next request until its mirror subrequest ended: short
    timeouts, the comparator answers before it compares)."""
    return (
        f"    location = {MIRROR_PATH} {{\n"
        "        internal;\n"
        "        if ($request_method !~ ^(GET|HEAD|OPTIONS)$) {\n"
        "            return 204;  # a copy replays to stable too: never an unsafe method\n"
        "        }\n"
        + (f'        if (${ns}_mirrored = "") {{\n            return 204;\n        }}\n'
           if sampled else "") +
        f"        proxy_pass http://{ns}_mirror$request_uri;\n"
        "        proxy_http_version 1.1;\n"
        '        proxy_set_header Connection "";\n'
        "        proxy_set_header Host $http_host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        proxy_set_header X-Forwarded-Proto $scheme;\n"
        "        proxy_set_header X-Forwarded-Host $http_host;\n"
        "        proxy_pass_request_body off;\n"
        '        proxy_set_header Content-Length "";\n'
        "        proxy_connect_timeout 200ms;\n"
        "        proxy_send_timeout 1s;\n"
        "        proxy_read_timeout 1s;\n"
        "    }\n")
