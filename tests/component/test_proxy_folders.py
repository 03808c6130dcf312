"""docs/proxy.md's first command, `zerodown proxy --listen ... --admin unix:/tmp/zd/admin.sock
--state /tmp/zd/proxy.json`, works where /tmp/zd does not exist yet (it was a traceback:
FileNotFoundError from bind), and a folder it cannot make is named."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

from tests.support import HOST, REPO, free_port


def start(tmp_path, folder) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zerodown", "proxy", "--no-supervise",
         "--listen", f"{HOST}:{free_port()}", "--admin", f"unix:{folder}/admin.sock",
         "--state", f"{folder}/proxy.json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_folders_of_state_and_admin_are_made(tmp_path):
    folder = tmp_path / "zd" / "deeper"
    proc = start(tmp_path, folder)
    try:
        deadline = time.monotonic() + 20
        while not (folder / "admin.sock").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no admin socket within 20s"
            time.sleep(0.05)
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_a_folder_it_cannot_make_is_named(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    proc = start(tmp_path, tmp_path / "file" / "zd")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err
    assert f"cannot make the folder of {tmp_path}/file/zd/proxy.json" in err, err
