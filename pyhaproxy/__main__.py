"""``python -m pyhaproxy``: the same command line as ``haproxy``."""

import sys

from pyhaproxy.cli import main

sys.exit(main())
