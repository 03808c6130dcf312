"""The proxy on its own, like kamal-proxy: `zerodown proxy deploy|table|list` against a real
proxy and real apps, no controller."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

from tests.support import HOST, REPO, free_port, get


def zd(proxy, *args: str, code: int = 0, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "zerodown", "proxy", *args,
                           "--admin", proxy.admin_spec], cwd=REPO, input=stdin, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    return done


def test_deploy_waits_for_health_then_swaps_and_table_set_get_list(proxy, app_factory, tmp_path):
    v1, v2 = app_factory("v1"), app_factory("v2")
    out = zd(proxy, "deploy", "v1", "--target", f"{HOST}:{v1.port}").stdout
    assert "v1 serves every request (1 target, table v1)" in out
    assert get(proxy.port, "/").text == "hello from v1\n"

    dead = free_port()  # nothing listens there: the swap must not happen
    err = zd(proxy, "deploy", "v2", "--target", f"{HOST}:{dead}", "--deploy-timeout", "0.5",
             code=1).stderr
    assert f"target {HOST}:{dead} did not answer 200 on /healthz" in err and "unchanged" in err
    assert get(proxy.port, "/").text == "hello from v1\n"

    table = json.loads(zd(proxy, "table", "get").stdout)
    assert table["version"] == 1 and table["revisions"][0]["backends"][0]["address"] == \
        f"{HOST}:{v1.port}"
    split = {"revisions": [  # no version: the one in force plus one
        {"name": "v1", "weight": 50, "backends": [{"id": "a", "address": f"{HOST}:{v1.port}"}]},
        {"name": "v2", "weight": 50, "backends": [{"id": "b", "address": f"{HOST}:{v2.port}"}]}],
        "rules": [{"revision": "v2", "header": "X-Beta", "equals": "1"}]}
    (tmp_path / "split.json").write_text(json.dumps(split))
    assert zd(proxy, "table", "set", str(tmp_path / "split.json")).stdout.strip() == \
        "table v2 applied"
    assert get(proxy.port, "/", headers={"X-Beta": "1"}).text == "hello from v2\n"
    listing = zd(proxy, "list").stdout
    assert "table v2" in listing and "v2" in listing and "rule: header X-Beta = 1 → v2" in listing

    older = {**split, "version": 1}
    err = zd(proxy, "table", "set", "-", stdin=json.dumps(older), code=2).stderr
    assert "older" in err, err
    bad = {**split, "rules": [{"revision": "v9", "header": "X-Beta", "equals": "1"}]}
    err = zd(proxy, "table", "set", "-", stdin=json.dumps(bad), code=2).stderr
    assert "rules[0].revision: unknown revision 'v9'" in err
    assert json.loads(zd(proxy, "table", "get").stdout)["version"] == 2


def test_without_an_admin_address_it_says_what_is_needed(proxy):
    done = subprocess.run([sys.executable, "-m", "zerodown", "proxy", "list"], cwd=REPO,
                          text=True, capture_output=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and "--admin: the proxy's admin address is needed" in done.stderr


def test_deploy_with_service_and_host_registers_it_beside_the_others(proxy, app_factory):
    shop, api = app_factory("shop"), app_factory("api")
    out = zd(proxy, "deploy", "s1", "--service", "shop", "--host", "shop.example.com",
             "--target", f"{HOST}:{shop.port}").stdout
    assert "s1 serves every request" in out
    zd(proxy, "deploy", "a1", "--service", "api", "--host", "*.api.test", "--path-prefix", "/",
       "--target", f"{HOST}:{api.port}")
    assert get(proxy.port, "/", headers={"Host": "shop.example.com"}).text == "hello from shop\n"
    assert get(proxy.port, "/", headers={"Host": "eu.api.test"}).text == "hello from api\n"
    assert get(proxy.port, "/", headers={"Host": "nope.test"}).status == 404
    listed = zd(proxy, "services").stdout
    assert "shop.example.com" in listed and "*.api.test" in listed and "1 answered 404" in listed
    assert "a1" in zd(proxy, "list", "--service", "api").stdout
    assert json.loads(zd(proxy, "table", "get", "--service", "shop").stdout)["version"] == 1
    err = zd(proxy, "deploy", "x", "--service", "shop2", "--host", "shop.example.com",
             "--target", f"{HOST}:{shop.port}", code=1).stderr
    assert "shop2" in err and "shop.example.com" in err
    assert "remaining: api" in zd(proxy, "remove", "--service", "shop").stdout
    assert get(proxy.port, "/", headers={"Host": "shop.example.com"}).status == 404
    err = zd(proxy, "deploy", "x", "--host", "a.test", "--target", f"{HOST}:{shop.port}",
             code=2).stderr
    assert "add --service NAME" in err


def test_deploy_path_prefix_strips_unless_told_not_to(proxy, app_factory):
    """kamal-proxy's flags: --path-prefix strips by default, --strip-path-prefix=false keeps it."""
    api, legacy = app_factory("api"), app_factory("legacy")
    zd(proxy, "deploy", "a1", "--service", "api", "--host", "example.com", "--path-prefix",
       "/api", "--target", f"{HOST}:{api.port}")
    zd(proxy, "deploy", "l1", "--service", "legacy", "--host", "example.com", "--path-prefix",
       "/version", "--strip-path-prefix=false", "--target", f"{HOST}:{legacy.port}")
    assert get(proxy.port, "/api", headers={"Host": "example.com"}).text == "hello from api\n"
    kept = get(proxy.port, "/version", headers={"Host": "example.com"})  # the app's own /version
    assert kept.status == 200 and json.loads(kept.text)["version"] == "legacy"
    listed = zd(proxy, "services").stdout
    assert "/version (kept in the path)" in listed and "/api (kept" not in listed
    err = zd(proxy, "deploy", "x", "--service", "y", "--path-prefix", "/y",
             "--strip-path-prefix=maybe", "--target", f"{HOST}:{api.port}", code=2).stderr
    assert "true or false, got 'maybe'" in err


def test_a_deploy_interrupted_while_it_waits_for_health_says_so_without_a_traceback(proxy):
    """`proxy` is passed through outside the command line's parser (cli.py), and its
    errors are mapped there as every command's are: a Ctrl-C while `deploy` waited for
    its target's health printed KeyboardInterrupt's traceback."""
    with socket.create_server((HOST, 0)) as target:  # takes the health check, never answers
        target.settimeout(30)
        deploy = subprocess.Popen([sys.executable, "-m", "zerodown", "proxy", "deploy", "v9",
                                   "--target", f"{HOST}:{target.getsockname()[1]}",
                                   "--admin", proxy.admin_spec], cwd=REPO, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            checked, _ = target.accept()  # its health check under way: waiting
            deploy.send_signal(signal.SIGINT)
            out, err = deploy.communicate(timeout=30)
            checked.close()
        finally:
            if deploy.poll() is None:
                deploy.kill()
                deploy.wait()
    assert deploy.returncode == 130 and "Traceback" not in err, err
    assert err.strip() == "interrupted"
    assert "v9" not in json.dumps(json.loads(zd(proxy, "table", "get").stdout))
