"""The daemon's runner: one thread that runs the service's active deployment to its end,
whoever created it (the API, an older CLI) and whatever interrupted it before (a
killed controller resumes from the store at its next start).

A deployment is run with hold=True: at a pause, with or without an error, the
runner keeps it (and its background analysis) until a person, a deadline or the
analysis moves it on, instead of returning and leaving it to nobody.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from typing import Callable

from zerodown.controller import Controller
from zerodown.engine.finishing import Finishing
from zerodown.engine.runner import DeploymentBusy
from zerodown.errors import ZerodownError

POLL = 0.2  # how often an idle runner looks for a deployment nobody woke it for
RETRY = 1.0  # after an error the engine could not handle itself


class Runner:
    def __init__(self, controller: Callable[[], Controller], service: str,
                 log: Callable[[str], None] = print):
        self.controller, self.service, self.log = controller, service, log
        # the stops a killed controller left, finished beside the runs (_finish_stops)
        self.finishing = Finishing()
        self._wake = threading.Event()
        self.running: int | None = None  # the deployment in hand
        # notified as a run returns: a client waits for the end of the run, not only of the
        # phase (the last stops are awaited after it is written: settled below)
        self._returned = threading.Condition()
        # (deployment, message) of the last error it could not get past (a full disk):
        # a client following the deployment shows it, or it would wait in silence
        self.error: tuple[int, str] | None = None

    def wake(self) -> None:
        self._wake.set()

    def settled(self, id: int, wait: float = 0) -> bool:
        """Whether no run of this runner holds deployment `id` (its run returned: its last
        old instances exited and are written stopped), waiting up to `wait` seconds for
        that. Meant for a deployment whose phase is terminal (routes.py asks only then): a
        deployment not yet taken up is not held either, but it is never terminal."""
        with self._returned:
            return self._returned.wait_for(lambda: self.running != id, wait)

    def run(self, stop: threading.Event) -> None:
        with closing(self.controller()) as ctl:
            store = ctl.open_store()
        if store.active_deployment(self.service) is None:
            self._finish_stops(store)  # (an active one's run reconciles first thing)
        while not stop.is_set():
            with closing(self.controller()) as ctl:  # drivers built only if the file changed
                store = ctl.fresh_store(store)
            d = store.active_deployment(self.service)
            if d is not None:
                self._drive(d.id, store, stop)
                continue
            self._wake.wait(POLL)
            self._wake.clear()

    def _finish_stops(self, store) -> None:
        """Stops a controller killed mid-stop left unconfirmed (rows `stopping`) with no
        deployment to resume (a run awaits its last stops after its phase is written):
        reconciled at start, so what still runs is stopped and its row written stopped
        (engine/stopping.py). Their exits (up to stop_grace each) are awaited beside the
        runs, not before them (engine/finishing.py): a deployment asked meanwhile starts
        at once. One query when there are none."""
        if not any(r.state == "stopping" for r in store.instances(self.service,
                                                                   live=True).values()):
            return
        ctl = self.controller()  # kept until the last of those stops is confirmed
        try:
            engine = ctl.engine(ctl.working_config(), self.finishing)
            self.finishing.reconcile(engine, done=ctl.close)
        except DeploymentBusy:  # another process holds the service: its run reconciles
            ctl.close()
        except ZerodownError as e:  # (a host that does not answer is named in the events)
            self.log(f"finishing the stops left in flight: {e}")
            ctl.close()
        except BaseException:
            ctl.close()
            raise

    def _drive(self, id: int, store, stop: threading.Event) -> None:
        self.running = id
        # a controller of its own per run (the config read anew), closed after it: its
        # kept threads, connections and store would stay with every run
        ctl = self.controller()
        try:
            cfg = ctl.working_config()
            ctl.ensure_router(cfg)
            self.log(f"running deployment {id}")
            phase = ctl.engine(cfg, self.finishing).run(id, hold=True)
            self.error = None
            self.log(f"deployment {id} {phase}")
        except DeploymentBusy as e:  # a CLI of an older zerodown runs it: let it, look again
            self.log(str(e))
            stop.wait(RETRY)
        except ZerodownError as e:
            self.error = (id, str(e))
            self.log(f"deployment {id}: {e}; trying again in {RETRY:g}s")
            try:
                store.event(self.service, "controller.error", f"controller: {e}; trying again "
                            f"in {RETRY:g}s", id)
            except ZerodownError:
                pass
            stop.wait(RETRY)
        finally:
            with self._returned:
                self.running = None
                self._returned.notify_all()
            # closed once the run is settled: its store's close awaits the checkpoint the
            # run's end asked (WalWorkers.close, 10-35 ms), which no client needs to wait for
            try:
                ctl.close()
            except ZerodownError as e:
                self.log(f"deployment {id}: {e}")


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
