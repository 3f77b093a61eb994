"""``python -m cnnlab``: the same as the ``cnnlab`` command (cnnlab.watch.cli)."""

import sys

from cnnlab.watch.cli import main

sys.exit(main())
