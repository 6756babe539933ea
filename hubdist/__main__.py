"""Allow ``python -m hubdist``."""

import sys

from hubdist.cli import main

sys.exit(main())
