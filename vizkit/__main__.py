"""python -m vizkit scan ... | info: the command line (vizkit.cli), also under torchrun."""

import sys

from .cli import main

sys.exit(main())
