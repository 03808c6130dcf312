"""Where a process runs: this machine (local.py) or an SSH host (ssh.py), behind the same
zerodown.protocols.Host interface, so a router or runtime asks its host, not /proc."""
