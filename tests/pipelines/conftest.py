import importlib.util
import os

import pytest

from pipeline_fixtures import build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """``tiny_model(arch, head="sequence-classification", **config)`` -> a saved folder (cached)."""
    pytest.importorskip("transformers")
    built = {}

    def make(arch="bert", head="sequence-classification", **config):
        if importlib.util.find_spec(f"leanformers.models.{arch}") is None:
            pytest.skip(f"leanformers has no {arch} model file yet")
        key = (arch, head, tuple(sorted((k, repr(v)) for k, v in config.items())))
        if key not in built:
            folder = tmp_path_factory.mktemp(f"{arch}-{head}")
            built[key] = build_tiny_model(str(folder), arch, head, **config)
        return built[key]

    return make


@pytest.fixture(scope="session")
def ref_pipeline():
    """The reference's pipeline() on the CPU, cached per (task, folder, kwargs)."""
    transformers = pytest.importorskip("transformers")
    cache = {}

    def make(task, model, **kwargs):
        key = (task, model, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key not in cache:
            cache[key] = transformers.pipeline(task, model=model, device="cpu", **kwargs)
        return cache[key]

    return make
