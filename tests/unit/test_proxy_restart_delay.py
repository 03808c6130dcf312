"""The supervisor restarts a dead serving process at once, and slows only a crash loop
(zerodown/proxy/supervisor.py restart_delay): a process killed soon after the proxy
started (an operator, the OOM killer) had its clients waiting in the accept queue, and a
delay before the first restart was theirs (50 ms, found by a flaky e2e test's timing)."""

from zerodown.proxy.supervisor import MAX_BACKOFF, restart_delay


def test_one_death_is_restarted_at_once_however_young_the_process_was():
    assert restart_delay(0) == 0.0  # it had lived over a second
    assert restart_delay(1) == 0.0  # the first quick death in a row: not a loop yet


def test_quick_deaths_in_a_row_wait_longer_each_time_up_to_the_limit():
    delays = [restart_delay(n) for n in range(2, 12)]
    assert delays[:3] == [0.05, 0.1, 0.2]
    assert all(a <= b for a, b in zip(delays, delays[1:]))
    assert delays[-1] == MAX_BACKOFF
