"""``python -m hubdist.netguard``, the same as ``hubdist netguard``."""

import sys

from .command import main

sys.exit(main())
