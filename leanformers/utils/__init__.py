"""``leanformers.utils.logging``: the reference's spelling (``transformers.utils.logging``) of
:mod:`leanformers.logging`."""

import sys

from .. import logging

sys.modules[__name__ + ".logging"] = logging  # so that `import leanformers.utils.logging` finds it

__all__ = ["logging"]
