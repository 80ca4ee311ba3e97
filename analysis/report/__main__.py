"""`python -m analysis.report ...`: see `analysis.report._cli`."""

import sys

from analysis.report._cli import main

sys.exit(main())
