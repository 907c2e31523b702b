"""from_pretrained / save_pretrained options of the reference: honoured, or one clear error.

attn_implementation, quantization, trust_remote_code, push_to_hub (against a stand-in Hub on
127.0.0.1), and loading while other threads build layers.
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import leanformers
from leanformers.auto import AutoModel, AutoModelForCausalLM
from leanformers.models.bert import BertConfig, BertModel
from leanformers.models.llama import LlamaForCausalLM

LLAMA = dict(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
BERT = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            max_position_embeddings=64)
IDS = torch.tensor([[5, 6, 7, 8, 9, 10], [0, 0, 11, 12, 13, 14]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]])


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    import transformers

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("llama")
    transformers.LlamaForCausalLM(transformers.LlamaConfig(**LLAMA)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bert")
    BertModel(BertConfig(**BERT)).save_pretrained(folder)
    return folder


# ---- attn_implementation -------------------------------------------------------------------------
@pytest.fixture
def sdpa_calls(monkeypatch):
    calls = []
    original = F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    return calls


def test_eager_attention_matches_the_reference_eager_path_without_sdpa(llama_dir, sdpa_calls):
    import transformers

    ref = transformers.LlamaForCausalLM.from_pretrained(llama_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        expected = ref(IDS, attention_mask=MASK).logits
    sdpa_calls.clear()
    ours = AutoModelForCausalLM.from_pretrained(llama_dir, attn_implementation="eager")
    assert ours.config._attn_implementation == "eager"
    with torch.no_grad():
        got = ours(IDS, attention_mask=MASK).logits
    assert sdpa_calls == []
    torch.testing.assert_close(got[MASK.bool()], expected[MASK.bool()], atol=1e-5, rtol=0)
    ours.generate(IDS[:1], max_new_tokens=3, do_sample=False)
    assert sdpa_calls == []
    # the default is SDPA, and it gives the same numbers
    default = LlamaForCausalLM.from_pretrained(llama_dir)
    assert default.config._attn_implementation == "sdpa"
    with torch.no_grad():
        via_sdpa = default(IDS, attention_mask=MASK).logits
    assert sdpa_calls
    torch.testing.assert_close(via_sdpa[MASK.bool()], got[MASK.bool()], atol=1e-5, rtol=0)


def test_eager_attention_for_an_encoder_and_from_config(bert_dir, sdpa_calls):
    eager = BertModel.from_pretrained(bert_dir, attn_implementation="eager")
    sdpa = BertModel.from_pretrained(bert_dir, attn_implementation="sdpa")
    sdpa_calls.clear()
    with torch.no_grad():
        out = eager(IDS, attention_mask=MASK).last_hidden_state
        assert sdpa_calls == []
        torch.testing.assert_close(out, sdpa(IDS, attention_mask=MASK).last_hidden_state, atol=1e-5, rtol=0)
    assert sdpa_calls
    # a config that says eager, passed in, stays eager; from_config takes the option too
    sdpa_calls.clear()
    again = BertModel.from_pretrained(bert_dir, config=eager.config)
    built = BertModel.from_config(BertConfig(**BERT), attn_implementation="eager")
    with torch.no_grad():
        again(IDS)
        built(IDS)
    assert sdpa_calls == []


@pytest.mark.parametrize("value", ["flash_attention_2", "flex_attention", "EAGER"])
def test_unknown_attn_implementation_is_a_clear_error(bert_dir, value):
    with pytest.raises(ValueError, match=f"attn_implementation={value!r} is not supported: use 'sdpa'"):
        BertModel.from_pretrained(bert_dir, attn_implementation=value)


# ---- quantization and remote code --------------------------------------------------------------
@pytest.mark.parametrize("option", [{"load_in_8bit": True}, {"load_in_4bit": True},
                                    {"quantization_config": {"load_in_4bit": True}}])
def test_quantization_options_are_one_clear_error(bert_dir, option):
    for load in (BertModel.from_pretrained, AutoModel.from_pretrained):
        with pytest.raises(NotImplementedError, match=r"quantized weights \(.*\), which leanformers does not "
                                                      r"support\. Load the full-precision checkpoint with dtype="):
            load(bert_dir, **option)


def test_a_quantized_checkpoint_is_a_clear_error(bert_dir, tmp_path):
    config = json.loads((bert_dir / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes((bert_dir / "model.safetensors").read_bytes())
    with pytest.raises(NotImplementedError, match="config.json asks for quantized weights"):
        BertModel.from_pretrained(tmp_path)


def test_trust_remote_code(bert_dir, tmp_path):
    # harmless on a normal checkpoint
    assert isinstance(AutoModel.from_pretrained(bert_dir, trust_remote_code=True), BertModel)
    config = json.loads((bert_dir / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes((bert_dir / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="ships its own modelling code .* never runs code from a checkpoint. "
                                         "Pass trust_remote_code=False"):
        AutoModel.from_pretrained(tmp_path, trust_remote_code=True)
    # without it, the built-in architecture loads (as the reference does)
    assert isinstance(AutoModel.from_pretrained(tmp_path), BertModel)
    # a model type that only the remote code defines
    config["model_type"] = "my-custom-arch"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="my-custom-arch.*auto_map.*never runs code from a checkpoint"):
        AutoModel.from_pretrained(tmp_path, trust_remote_code=True)


# ---- push_to_hub against a stand-in Hub ------------------------------------------------------------
class _Hub(BaseHTTPRequestHandler):
    """Just enough of the Hub's API for HfApi.create_repo + upload_folder (files sent inline)."""

    def log_message(self, *args):
        pass

    def _reply(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply({"error": "not here"}, 404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        hub, base = self.server, f"http://127.0.0.1:{self.server.server_address[1]}"
        hub.requests.append((self.path, self.headers.get("authorization")))
        if self.path == "/api/repos/create":
            request = json.loads(body)
            repo = f"{request.get('organization') or 'user'}/{request['name']}"
            return self._reply({"url": f"{base}/{repo}", "name": repo, "id": repo})
        if "/preupload/" in self.path:
            files = json.loads(body)["files"]
            return self._reply({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                          for f in files]})
        if "/commit/" in self.path:
            for line in body.decode().splitlines():
                op = json.loads(line)
                if op["key"] == "header":
                    hub.message = op["value"]["summary"]
                elif op["key"] == "file":
                    hub.files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
            repo = self.path.split("/api/models/")[1].split("/commit/")[0]
            return self._reply({"commitUrl": f"{base}/{repo}/commit/{'1' * 40}", "commitOid": "1" * 40})
        self._reply({"error": "not here"}, 404)


@pytest.fixture
def stand_in_hub(monkeypatch):
    import huggingface_hub.constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    server.requests, server.files, server.message = [], {}, None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_push_to_hub_uploads_the_saved_files(bert_dir, tmp_path, stand_in_hub):
    model = BertModel.from_pretrained(bert_dir)
    (tmp_path / "notes.txt").write_text("not the model's")
    model.save_pretrained(tmp_path, push_to_hub=True, repo_id="me/tiny-bert", token="hf_test",
                          commit_message="first upload", max_shard_size=30_000)
    local = {n: (tmp_path / n).read_bytes() for n in stand_in_hub.files}
    assert stand_in_hub.files == local
    assert "model.safetensors.index.json" in local and "config.json" in local and "notes.txt" not in local
    assert stand_in_hub.message == "first upload"
    assert [p for p, _ in stand_in_hub.requests if p.startswith("/api/")] == [
        "/api/repos/create", "/api/models/me/tiny-bert/preupload/main", "/api/models/me/tiny-bert/commit/main"]
    assert all(auth == "Bearer hf_test" for p, auth in stand_in_hub.requests if p.startswith("/api/"))


# ---- threads ---------------------------------------------------------------------------------------
def test_a_layer_built_in_another_thread_during_a_load_is_normal(bert_dir):
    """The load builds on meta in float16; a Linear built by another thread inside that very window
    must be real and float32 (and the load must still give a real float16 model)."""
    in_window, built = threading.Event(), threading.Event()
    other = {}

    class Pausing(BertModel):
        def __init__(self, config):
            super().__init__(config)
            in_window.set()
            assert built.wait(30)

    def build():
        assert in_window.wait(30)
        layer = nn.Linear(4, 4)
        other["layer"] = (layer.weight.device.type, layer.weight.dtype, torch.zeros(2).dtype)
        built.set()

    thread = threading.Thread(target=build)
    thread.start()
    model = Pausing.from_pretrained(bert_dir, dtype=torch.float16)
    thread.join(30)
    assert other["layer"] == ("cpu", torch.float32, torch.float32)
    assert {(p.device.type, p.dtype) for p in model.parameters()} == {("cpu", torch.float16)}
    assert torch.get_default_dtype() == torch.float32


def test_two_threads_loading_at_once(bert_dir):
    results, errors = {}, []

    def load(dtype):
        try:
            for _ in range(5):
                model = BertModel.from_pretrained(bert_dir, dtype=dtype)
                results.setdefault(dtype, set()).update((p.device.type, p.dtype) for p in model.parameters())
                built = BertModel.from_config(BertConfig(**BERT), dtype=dtype)
                results[dtype].update((p.device.type, p.dtype) for p in built.parameters())
                results[dtype].add(("free-layer", nn.LayerNorm(3).weight.dtype))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    loading_done, free_layers = threading.Event(), set()

    def build_meanwhile():  # layers built all the while by a thread that loads nothing
        try:
            while not loading_done.is_set():
                layer = nn.Linear(3, 3)
                free_layers.add((layer.weight.device.type, layer.weight.dtype))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    builder = threading.Thread(target=build_meanwhile)
    builder.start()
    threads = [threading.Thread(target=load, args=(d,)) for d in (torch.float16, torch.bfloat16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    loading_done.set()
    builder.join(60)
    assert not errors
    assert free_layers == {("cpu", torch.float32)}
    assert results[torch.float16] == {("cpu", torch.float16), ("free-layer", torch.float32)}
    assert results[torch.bfloat16] == {("cpu", torch.bfloat16), ("free-layer", torch.float32)}
    assert nn.Module.register_parameter is not leanformers.modeling._register_on_meta  # hooks removed
    assert leanformers.modeling._patch_users == 0
