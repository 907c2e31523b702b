"""Suite-wide settings."""

from hypothesis import settings

# Property tests draw the same examples on every run: CI stays reproducible (a failure found once is
# found again), and no example database is written into the checkout.
settings.register_profile("leanformers", derandomize=True, database=None, deadline=None)
settings.load_profile("leanformers")
