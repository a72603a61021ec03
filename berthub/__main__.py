"""`python -m berthub ...` (what torchrun launches) is the `berthub` command."""

import sys

from berthub.cli import main

sys.exit(main())
