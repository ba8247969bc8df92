"""python -m vizkit scan | info | train | runs: the command line (vizkit.cli); scan also under torchrun."""

import sys

from .cli import main

sys.exit(main())
