import os

import pytest

pytest.register_assert_rewrite("encoder_parity")

from encoder_parity import Parity  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def parity(tmp_path_factory):
    """Reference-built tiny checkpoints (cached for the session), inputs, labels and comparisons."""
    pytest.importorskip("transformers")
    return Parity(tmp_path_factory)
