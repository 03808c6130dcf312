"""What a stalled upload says the host took (zerodown/hosts/progress_send.py): what went
out less what the host's window still holds unread. A cut link holds up to the whole
window (2 MB from sshd): counting what went out said 2.2 MB of 2.7 MB had arrived where
0.2 MB had."""

from __future__ import annotations

import pytest

from zerodown.hosts.progress_send import Stalled, _taken

MB = 1 << 20


@pytest.mark.parametrize("sent, opened, window, taken", [
    (2 * MB, 2 * MB, 0, 0),                  # the window filled, nothing read since
    (3 * MB, 2 * MB, MB // 2, 3 * MB // 2),  # read 1.5 MB of 3 MB, 1.5 MB still in flight
    (MB, 2 * MB, 2 * MB, MB),                # all read: the window whole again
    (MB, None, None, MB),                    # no window known: what went out
])
def test_what_the_host_took_is_what_went_out_less_its_unread_window(sent, opened, window,
                                                                     taken):
    assert _taken(sent, opened, window) == taken


def test_a_stall_names_the_host_the_limit_and_how_much_of_how_much():
    said = Stalled(MB // 5, 27 * MB // 10, 3).said("zdf2")
    assert said == "nothing moved to zdf2 for 3s (0.2 MB of 2.7 MB taken there)"
