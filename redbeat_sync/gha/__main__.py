"""``python -m redbeat_sync.gha``: what action.yml runs."""

import sys

from .run import main

sys.exit(main())
