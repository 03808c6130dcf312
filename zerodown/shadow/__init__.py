"""Shadow traffic (issue 15, part 2): copies of users' requests sent to a new revision beside
the hot path, its answers compared with stable's. What exists so far: the comparison
(diff.py) and the bounded mirror (mirror.py). Not yet wired: the proxy does not feed the
mirror, and there is no `shadow:` strategy step or `max_diff_rate` check yet."""
