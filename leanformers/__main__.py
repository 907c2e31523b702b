"""``python -m leanformers ...`` is the ``leanformers`` command."""

import sys

from .cli import main

sys.exit(main())
