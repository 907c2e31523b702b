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


@pytest.fixture(scope="session")
def ref457():
    """transformers 4.57.6 in its own venv (scripts/setup.sh --test makes it): ``ref457.call(task,
    folder, inputs, init={...}, **call_kwargs)`` → (result, warnings), or raises ref457.RefError."""
    from ref457 import Ref457, ref_python

    python = ref_python()
    if python is None:
        pytest.skip("no transformers 4.57.6 venv: run `bash scripts/setup.sh --test` (or set LEANFORMERS_REF_VENV)")
    worker = Ref457(python)
    yield worker
    worker.close()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """``tiny_checkpoint(kind, head, **config)`` -> a folder with a tiny model and a trained tokenizer
    (kind "wordpiece" → BERT, "bytelevel" → RoBERTa), built by the reference, cached per session."""
    pytest.importorskip("transformers")
    from tiny_checkpoints import build

    built = {}

    def make(kind="wordpiece", head="token-classification", **config):
        key = (kind, head, tuple(sorted((k, repr(v)) for k, v in config.items())))
        if key not in built:
            built[key] = build(str(tmp_path_factory.mktemp(f"{kind}-{head}")), kind, head, **config)
        return built[key]

    return make
