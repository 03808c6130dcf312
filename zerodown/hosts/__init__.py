"""Where a process runs: this machine (local.py); an SSH host later, behind the same
zerodown.protocols.Host interface, so a router or runtime asks its host, not /proc."""
