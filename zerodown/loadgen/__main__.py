"""``python -m zerodown.loadgen URL ...``: see cli.py."""

import sys

from zerodown.loadgen.cli import main

sys.exit(main())
