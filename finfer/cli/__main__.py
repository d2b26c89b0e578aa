"""`python -m finfer.cli`: the `finfer` command."""

import sys

from finfer.cli import main

sys.exit(main())
