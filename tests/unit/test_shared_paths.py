"""Shared folders and files across releases (app.shared_dirs, app.shared_files): the keys
refused where they cannot work."""

from __future__ import annotations

import pytest

from zerodown.config import parse_config
from zerodown.errors import ConfigError

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
