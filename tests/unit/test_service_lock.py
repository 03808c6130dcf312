"""The pid lock files (engine/service_lock.py): a service's deployment's, the controller's."""

from __future__ import annotations

import os

import pytest

from zerodown.daemon.main import take_lock
from zerodown.engine.service_lock import DeploymentBusy, held
from zerodown.errors import UsageError


def test_a_held_lock_refuses_a_second_holder_naming_the_first_pid(tmp_path):
    path = str(tmp_path / "zerodown.db-shop.lock")
    with held(path, "shop"):
        assert open(path).read() == str(os.getpid())
        with pytest.raises(DeploymentBusy, match=rf"another zerodown process \(pid "
                                                 rf"{os.getpid()}\) is running shop's"):
            with held(path, "shop"):
                pass
    with held(path, "shop"):  # released on leaving
        pass


def test_the_controllers_lock_says_which_controller_runs(tmp_path):
    path = tmp_path / "state" / "controller.lock"
    fd = take_lock(path)
    try:
        with pytest.raises(UsageError, match=rf"a controller \(pid {os.getpid()}\) already runs "
                                             rf"for {tmp_path / 'state'}"):
            take_lock(path)
    finally:
        os.close(fd)
    os.close(take_lock(path))
