"""``python -m bench``: the same as ``python bench/report.py``."""

import sys

from bench.report import main

sys.exit(main())
