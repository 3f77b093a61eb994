"""``python -m cnnlab``: the same as the ``cnnlab`` command (cnnlab.watch.command)."""

import sys

from cnnlab.watch.command import main

sys.exit(main())
