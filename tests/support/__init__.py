"""Helpers shared by zerodown's tests: ports, HTTP probes, managed child processes."""

from .net import (HOST, Reply, free_port, get, port_open, request, wait_for_port,
                  wait_until, wait_until_refused)
from .procs import APP, REPO, ManagedProcess, app_env, start_app, wait_ready

__all__ = ["APP", "HOST", "REPO", "ManagedProcess", "Reply", "app_env", "free_port",
           "get", "port_open", "request", "start_app", "wait_for_port",
           "wait_ready", "wait_until", "wait_until_refused"]
