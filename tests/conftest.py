"""Suite-wide settings."""

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run: CI stays reproducible (a failure found once is
# found again), and no example database is written into the checkout.
settings.register_profile("leanformers", derandomize=True, database=None, deadline=None)
settings.load_profile("leanformers")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The models under test are tiny: a second intra-op thread only adds synchronisation, and on
    shared cores OpenMP's spinning makes each op many times slower. Subprocesses that tests start
    set their own threads."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
