"""Test-only fault point: a process of zerodown SIGKILLs itself where a stop's SIGTERM would
go, after that stop's mark is saved (hosts/stop_once.py `send`), the production path
otherwise the same code. No other point lands there: the mark and the signal are one hold
of the registry's lock, microseconds apart.

Armed by putting this folder first on PYTHONPATH (Python imports `sitecustomize` at every
interpreter's start) and naming a file in ZERODOWN_TEST_DIE_BEFORE_SIGTERM: the first
process to send a stop's SIGTERM while the file exists removes it (once, whoever races)
and dies by SIGKILL, signalling nothing; every other signal goes as usual.
"""

import os

_FLAG = os.environ.get("ZERODOWN_TEST_DIE_BEFORE_SIGTERM")

if _FLAG and os.path.exists(_FLAG):  # (a process started after it fired: not patched)
    import signal

    from zerodown.hosts import stop_once

    _send = stop_once.signal_group

    def _signal_group(pid: int, sig: int) -> None:
        if sig == signal.SIGTERM:
            try:
                os.unlink(_FLAG)
            except FileNotFoundError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        _send(pid, sig)

    stop_once.signal_group = _signal_group
