"""python -m vizkit scan ...: long dataset scans (vizkit.scan), also under torchrun."""

import sys

from .scan import main

sys.exit(main())
