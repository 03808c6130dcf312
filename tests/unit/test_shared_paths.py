"""Shared folders and files across releases (app.shared_dirs, app.shared_files): the keys
refused where they cannot work, the link plan, and a host's releases linked, re-linked and
pruned around them (zerodown/hosts/shared_paths.py and releases.py, on a temp dir as the
agent runs them on a host)."""

from __future__ import annotations

import os

import pytest

from zerodown.config import parse_config
from zerodown.errors import ConfigError
from zerodown.hosts import shared_paths
from zerodown.hosts.preflight import check_command, judged, report
from zerodown.hosts.releases import commit, manifest_of, prepare

FLEET = """\
service: shop
listen: 127.0.0.1:8080
app:
  command: python3 app.py --port {port}
  release: releases/{version}
runtime: {kind: ssh, hosts: [a, b]}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(text, file="zerodown.yaml")
    return [str(err) for err in e.value.errors]


def with_shared(dirs: str = "[]", files: str = "[]", text: str = FLEET) -> str:
    return text.replace("app:\n", f"app:\n  shared_dirs: {dirs}\n  shared_files: {files}\n")


def test_shared_paths_are_parsed_relative_and_without_a_final_slash():
    app = parse_config(with_shared("[uploads/, public/system]", "[config/database.yml]")).app
    assert (app.shared_dirs, app.shared_files) == (("uploads", "public/system"),
                                                   ("config/database.yml",))


@pytest.mark.parametrize("dirs, files, says", [
    ('["/var/uploads"]', "[]", 'app.shared_dirs[0]: must be a relative path inside the '
                               'release folder, like "uploads"'),
    ("[uploads/../..]", "[]", 'no . or .. part), got "uploads/../.."'),
    ("[a//b]", "[]", 'got "a//b"'),
    ("[]", "[.zerodown-release.json]", 'app.shared_files[0]: ".zerodown-release.json" is '
                                       'where zerodown keeps its own files'),
    ("[]", "[3]", "app.shared_files[0]: must be a relative path"),
    ("[log, log]", "[]", 'app.shared_dirs: "log" is also in app.shared_dirs: each shared '
                         'path is listed once'),
    ("[log]", "[log/app.log]", 'app.shared_files: "log/app.log" overlaps "log" in '
                               'app.shared_dirs'),
    ("[config/env]", "[config]", 'app.shared_files: "config" overlaps "config/env" in '
                                 'app.shared_dirs'),
])
def test_a_bad_shared_path_is_refused_naming_key_and_value(dirs, files, says):
    [error] = errors_of(with_shared(dirs, files))
    assert says in error, error


@pytest.mark.parametrize("text, lacks", [
    (FLEET.replace("runtime: {kind: ssh, hosts: [a, b]}\n", ""), "runtime is local"),
    (FLEET.replace("  release: releases/{version}\n", ""), "app.release is not set"),
])
def test_shared_paths_need_the_ssh_runtime_and_app_release(text, lacks):
    says = ('shared paths are linked into each release folder on the hosts of runtime: ssh '
            f'with app.release (e.g. releases/{{version}}); {lacks}')
    assert errors_of(with_shared("[uploads]", "[.env]", text)) == [
        f'zerodown.yaml:4: app.shared_dirs: "uploads": {says}',
        f'zerodown.yaml:5: app.shared_files: ".env": {says}']


def test_a_config_without_app_is_told_so_not_a_traceback():
    """The shared paths' check ran on a config whose app section is missing (an
    AttributeError out of `zerodown validate`): the missing section is what is said."""
    said = errors_of('service: shop\nlisten: 127.0.0.1:1\ncommand: ["x"]\n')
    assert any("app: is required" in e for e in said), said
    said = errors_of("service: shop\nlisten: 127.0.0.1:1\nruntime: {kind: ssh, hosts: [a]}\n"
                     "hooks: {before_start: [{command: [x], per_host: true}]}\n")
    assert any("app: is required" in e for e in said), said   # (the hook's check, too)


def test_the_link_plan_and_what_a_link_hides():
    shared = {"root": "/srv/z/shared/shop", "dirs": ["uploads"], "files": ["config/db.yml"]}
    assert shared_paths.link_plan("/srv/z/releases/shop/v2", shared) == [
        ("/srv/z/releases/shop/v2/uploads", "/srv/z/shared/shop/uploads"),
        ("/srv/z/releases/shop/v2/config/db.yml", "/srv/z/shared/shop/config/db.yml")]
    linked = shared_paths.paths(shared)
    assert [p for p in ("uploads", "uploads/.keep", "uploads2/a", "config/db.yml",
                        "config/db.yml.sample", "app.py") if shared_paths.shadowed(p, linked)
            ] == ["uploads", "uploads/.keep", "config/db.yml"]
    assert shared_paths.spec("/srv/z/", "shop", parse_config(FLEET).app) is None


def test_the_preflight_names_the_shared_files_a_host_lacks():
    shared = {"root": "/srv/z/shared/shop", "dirs": [], "files": ["config/db.yml", ".env"]}
    assert "/srv/z/shared/shop/.env" in check_command("/srv/z", shared)
    df = "/dev/sda1 41152736 10000000 2048000 25% /\n"
    lacking = report("app1", 0, df + "unshared:/srv/z/shared/shop/.env\n", "", shared)
    assert not lacking.ready and lacking.free_mb == 2000
    assert lacking.problem == ("shared file missing: /srv/z/shared/shop/.env (app.shared_files:"
                               " put each there before deploying)")
    assert lacking == judged("app1", None, 2000, [".env"], shared)  # as the agent finds it
    assert report("app1", 0, df, "", shared).ready


# --- on a host (a temp dir): what the agent's release_prepare / release_commit do -------

def deploy(tmp_path, version: str, files: dict[str, str], shared: dict | None) -> dict:
    """`version` released under tmp_path/releases as check_and_upload does it: prepared,
    the missing files sent, committed. Returns prepare's answer."""
    folder = tmp_path / "upload" / version
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    manifest, base = manifest_of(str(folder)), str(tmp_path / "releases")
    got = prepare(base, version, manifest, shared)
    for path in got["missing"]:
        target = tmp_path / "releases" / f"{version}.partial" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[path])
    if not got["done"]:
        commit(base, version, manifest, 2, shared=shared)
    return got


def test_a_release_links_the_shared_paths_and_a_later_one_copies_no_linked_file(tmp_path):
    root = tmp_path / "shared"
    shared = {"root": str(root), "dirs": ["uploads", "var/log"], "files": ["config/db.yml"]}
    (root / "config").mkdir(parents=True)
    (root / "config/db.yml").write_text("host-only\n")
    files = {"app.py": "app\n", "uploads/.keep": "", "config/db.yml": "sample\n"}
    got = deploy(tmp_path, "v1", files, shared)
    assert sorted(got["missing"]) == ["app.py"], "what a link replaces is never sent"
    v1 = tmp_path / "releases/v1"
    assert os.readlink(v1 / "uploads") == str(root / "uploads")
    assert os.readlink(v1 / "var/log") == str(root / "var/log")
    assert (v1 / "config/db.yml").read_text() == "host-only\n"
    assert oct((root / "uploads").stat().st_mode & 0o777) == "0o755"
    (v1 / "uploads/photo.jpg").write_text("v1 wrote this")
    # v2 has the same files: app.py copied from v1; the sample db.yml (its link in v1
    # reads the host's file) is neither sent nor copied, and the upload's manifest stands
    got = deploy(tmp_path, "v2", files, shared)
    assert got["missing"] == [] and not got["done"]
    assert (tmp_path / "releases/v2/uploads/photo.jpg").read_text() == "v1 wrote this"
    assert deploy(tmp_path, "v2", files, shared) == {"done": True, "missing": []}
    # v3 without shared paths: its db.yml is the sample, sent, not the host's file a link
    # of v1 or v2 reads (that copy would arrive "damaged")
    assert sorted(deploy(tmp_path, "v3", files, None)["missing"]) == ["config/db.yml",
                                                                     "uploads/.keep"]
    assert (tmp_path / "releases/v3/config/db.yml").read_text() == "sample\n"


def test_a_complete_release_gets_the_links_added_since_and_relinking_is_idempotent(tmp_path):
    files = {"app.py": "app\n", "log/old.log": "x"}
    deploy(tmp_path, "v1", files, None)
    v1 = tmp_path / "releases/v1"
    assert (v1 / "log").is_dir() and not (v1 / "log").is_symlink()
    shared = {"root": str(tmp_path / "shared"), "dirs": ["log"], "files": []}
    got = deploy(tmp_path, "v1", files, shared)
    assert got == {"done": False, "missing": []}, "complete, but its links are not there"
    assert os.readlink(v1 / "log") == str(tmp_path / "shared/log")
    (v1 / "log.zerodown-link").symlink_to("/nowhere")   # a link step cut short
    os.unlink(v1 / "log")
    shared_paths.link(str(v1), shared)
    shared_paths.link(str(v1), shared)
    assert os.readlink(v1 / "log") == str(tmp_path / "shared/log")
    assert not (v1 / "log.zerodown-link").exists() and not (v1 / "log.zerodown-link").is_symlink()
    assert deploy(tmp_path, "v1", files, shared)["done"]


def test_a_release_in_place_deployed_again_with_a_shared_dir_added_keeps_what_it_wrote(
        tmp_path):
    """v1 runs, its app writing ./uploads; shared_dirs: [uploads] is added and v1 deployed
    again: the first link of uploads moves v1's folder to the shared one (the link
    replacing it deleted the users' files, under v1's running instances)."""
    files = {"app.py": "app\n", "uploads/.keep": ""}
    deploy(tmp_path, "v1", files, None)
    v1 = tmp_path / "releases/v1"
    (v1 / "uploads/photo.jpg").write_text("a user's upload")
    shared = {"root": str(tmp_path / "shared"), "dirs": ["uploads"], "files": []}
    assert deploy(tmp_path, "v1", files, shared) == {"done": False, "missing": []}
    assert os.readlink(v1 / "uploads") == str(tmp_path / "shared/uploads")
    assert (v1 / "uploads/photo.jpg").read_text() == "a user's upload"
    # the shared folder made, a later release's own folder there is replaced as before
    deploy(tmp_path, "v2", files, shared)
    assert (tmp_path / "releases/v2/uploads/photo.jpg").read_text() == "a user's upload"


def test_pruning_a_release_leaves_the_shared_folders(tmp_path):
    shared = {"root": str(tmp_path / "shared"), "dirs": ["uploads"], "files": []}
    for n in range(1, 4):
        deploy(tmp_path, f"v{n}", {"app.py": f"v{n}\n"}, shared)
        (tmp_path / f"releases/v{n}/uploads/by-v{n}").write_text(str(n))
    assert sorted(os.listdir(tmp_path / "releases")) == ["v2", "v3"]   # keep 2: v1 pruned
    assert sorted(os.listdir(tmp_path / "shared/uploads")) == ["by-v1", "by-v2", "by-v3"]


@pytest.mark.parametrize("path", ["uploads", "config/db.yml", "uploads/", "a//", "a//b", "/a",
                                  "./a", "a/./b", "a/..", "..", ".zerodown-shared.json",
                                  ".zerodownx/a", "a/.zerodown", ".env", "a\tb", "/", "a/b/"])
def test_the_json_schema_pattern_accepts_what_the_parser_accepts(path):
    """`zerodown schema` (an editor's check) and validate agree on a shared path."""
    import re

    from zerodown.schema import Invalid, inner_path
    kind = inner_path()
    try:
        kind.parse(path)
        parsed = True
    except Invalid:
        parsed = False
    pattern = kind.schema["pattern"].replace("\\u0000", "\x00").replace("\\u001f", "\x1f")
    assert bool(re.search(pattern, path)) is parsed, (path, parsed)
