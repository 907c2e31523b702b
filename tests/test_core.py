"""The shared road: config, hub lookup, weights files, PreTrainedModel load/save, Auto classes."""

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import leanformers
from leanformers import weights as W
from leanformers.auto import AutoConfig, AutoModel, AutoModelForSequenceClassification
from leanformers.configuration import PretrainedConfig
from leanformers.hub import CheckpointNotFoundError, resolve_file
from leanformers.modeling import PreTrainedModel
from leanformers.outputs import BaseModelOutput, SequenceClassifierOutput


# ---- a tiny architecture defined here, so these tests depend on no model file ------------------
class TinyConfig(PretrainedConfig):
    model_type = "tiny-test"

    def __init__(self, vocab_size=50, hidden_size=8, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class TinyPreTrained(PreTrainedModel):
    config_class = TinyConfig
    base_model_prefix = "body"


class TinyModel(TinyPreTrained):
    def __init__(self, config):
        super().__init__(config)
        self.emb = nn.Embedding(config.vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size)
        self.register_buffer("positions", torch.arange(16), persistent=False)
        self.post_init()

    def forward(self, input_ids):
        return BaseModelOutput(last_hidden_state=self.norm(self.emb(input_ids)))


class TinyForSequenceClassification(TinyPreTrained):
    def __init__(self, config):
        super().__init__(config)
        self.body = TinyModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids):
        return SequenceClassifierOutput(logits=self.classifier(self.body(input_ids).last_hidden_state[:, 0]))


INPUT = torch.tensor([[1, 2, 3, 4]])


@pytest.fixture
def body_dir(tmp_path):
    torch.manual_seed(0)
    model = TinyModel(TinyConfig())
    model.save_pretrained(tmp_path / "body")
    return tmp_path / "body", model


# ---- package ---------------------------------------------------------------------------------
def test_import_is_lazy_and_does_not_import_torch():
    code = ("import sys, leanformers; assert 'torch' not in sys.modules, 'torch imported'; "
            "leanformers.__version__; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_unknown_public_name():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        leanformers.NoSuchThing


# ---- config ----------------------------------------------------------------------------------
def test_config_labels_and_unknown_keys_round_trip(tmp_path):
    config = TinyConfig(id2label={"0": "NEG", "1": "POS"}, my_custom_key=[1, 2], problem_type="regression")
    assert config.id2label == {0: "NEG", 1: "POS"}
    assert config.label2id == {"NEG": 0, "POS": 1}
    assert config.num_labels == 2
    config.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["id2label"] == {"0": "NEG", "1": "POS"} and data["my_custom_key"] == [1, 2]
    again = TinyConfig.from_pretrained(tmp_path)
    assert again.to_json_string() == config.to_json_string()
    assert again.name_or_path == str(tmp_path)
    assert again.my_custom_key == [1, 2] and again.problem_type == "regression"


def test_config_num_labels_builds_default_labels():
    config = TinyConfig(num_labels=3)
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    config.num_labels = 5
    assert len(config.label2id) == 5


def test_config_json_matches_reference_shape():
    transformers = pytest.importorskip("transformers")
    ours = json.loads(PretrainedConfig(num_labels=3, foo="bar", problem_type="multi_label_classification")
                      .to_json_string())
    ref = json.loads(transformers.PretrainedConfig(num_labels=3, foo="bar",
                                                   problem_type="multi_label_classification").to_json_string())
    ref.pop("transformers_version", None)
    assert ours == ref


class _EncoderDecoderTinyConfig(TinyConfig):
    """Declares a common key's default unlike the bare config's, as T5Config does (is_encoder_decoder=True)."""

    def __init__(self, is_encoder_decoder=True, **kwargs):
        super().__init__(is_encoder_decoder=is_encoder_decoder, **kwargs)


def test_config_diff_keeps_values_that_differ_from_the_class_default():
    # is_encoder_decoder=False equals the bare default, yet must be written: reloading would give True
    assert _EncoderDecoderTinyConfig(is_encoder_decoder=False).to_diff_dict()["is_encoder_decoder"] is False
    assert _EncoderDecoderTinyConfig().to_diff_dict()["is_encoder_decoder"] is True
    assert "is_encoder_decoder" not in TinyConfig().to_diff_dict()


@pytest.mark.parametrize("arch, kwargs", [("T5", {"is_encoder_decoder": False}), ("T5", {}),
                                          ("Bart", {"num_labels": 2}), ("Bart", {"is_encoder_decoder": False}),
                                          ("Bert", {"is_encoder_decoder": True}), ("Bert", {})])
def test_config_diff_keys_match_reference(arch, kwargs):
    transformers = pytest.importorskip("transformers")
    ours = json.loads(getattr(leanformers, f"{arch}Config")(**kwargs).to_json_string())
    ref = json.loads(getattr(transformers, f"{arch}Config")(**kwargs).to_json_string())
    common = ("is_encoder_decoder", "id2label", "label2id", "return_dict", "output_attentions")
    assert {k: ours.get(k) for k in common} == {k: ref.get(k) for k in common}


def test_config_rejects_bad_problem_type():
    with pytest.raises(ValueError, match="problem_type must be one of"):
        TinyConfig(problem_type="classification")


def test_config_reads_legacy_torch_dtype(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "tiny-test", "torch_dtype": "float16"}))
    assert TinyConfig.from_pretrained(tmp_path).dtype == "float16"


def test_config_malformed_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        TinyConfig.from_pretrained(tmp_path)


# ---- hub: folder, cache layout, offline --------------------------------------------------------
def _fake_cache(root, repo_id="org/model", commit="a" * 40, files=("config.json",), branch="main"):
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for name in files:
        (snap / name).write_text("{}")
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / branch).write_text(commit)
    return snap


def test_hub_finds_files_in_hf_cache_by_env(tmp_path, monkeypatch):
    snap = _fake_cache(tmp_path / "home" / "hub")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_file("org/model", "config.json") == str(snap / "config.json")
    # HF_HUB_CACHE wins over HF_HOME
    other = _fake_cache(tmp_path / "other", commit="b" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "other"))
    assert resolve_file("org/model", "config.json") == str(other / "config.json")


def test_hub_revision_branch_and_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _fake_cache(tmp_path, commit="c" * 40)
    repo = tmp_path / "models--org--model"
    (repo / "snapshots" / ("d" * 40)).mkdir()
    (repo / "snapshots" / ("d" * 40) / "config.json").write_text("{}")
    (repo / "refs" / "dev").write_text("d" * 40)
    assert ("d" * 40) in resolve_file("org/model", "config.json", revision="dev")
    assert ("c" * 40) in resolve_file("org/model", "config.json", revision="c" * 40)


def test_hub_offline_makes_no_network_call(tmp_path, monkeypatch):
    import huggingface_hub

    def boom(*a, **k):
        raise AssertionError("network call in offline mode")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", boom)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError) as e:
        resolve_file("org/absent", "config.json")
    assert str(tmp_path) in str(e.value) and "HF_HUB_OFFLINE" in str(e.value)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(CheckpointNotFoundError, match="local_files_only"):
        resolve_file("org/absent", "config.json", local_files_only=True)
    assert resolve_file("org/absent", "config.json", local_files_only=True, required=False) is None


def test_hub_missing_folder_message(tmp_path):
    with pytest.raises(OSError, match="holds no 'config.json'"):
        resolve_file(tmp_path, "config.json")
    with pytest.raises(OSError, match="not a valid Hub model id"):
        resolve_file(str(tmp_path / "no" / "such" / "dir"), "config.json")


# ---- weights files -------------------------------------------------------------------------------
def test_safetensors_written_here_read_by_safetensors_and_back(tmp_path):
    from safetensors.torch import load_file, save_file

    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5), "c": torch.randn(2).to(torch.bfloat16),
               "empty": torch.zeros(0, 3)}
    W.save_safetensors(tensors, str(tmp_path / "ours.safetensors"), {"format": "pt"})
    theirs = load_file(str(tmp_path / "ours.safetensors"))
    assert all(torch.equal(theirs[k], v) for k, v in tensors.items())
    save_file(tensors, str(tmp_path / "ref.safetensors"))
    ours = W.load_safetensors(str(tmp_path / "ref.safetensors"))
    assert all(torch.equal(ours[k], v) for k, v in tensors.items())


def test_corrupt_and_truncated_safetensors(tmp_path):
    good = tmp_path / "good.safetensors"
    W.save_safetensors({"w": torch.randn(64, 64)}, str(good))
    bad_header = tmp_path / "bad.safetensors"
    bad_header.write_bytes(b"\xff" * 8 + good.read_bytes()[8:])
    with pytest.raises(W.CorruptCheckpointError, match="corrupt safetensors header"):
        W.load_safetensors(str(bad_header))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes((16).to_bytes(8, "little") + b"{not json at all")
    with pytest.raises(W.CorruptCheckpointError, match="corrupt safetensors header"):
        W.load_safetensors(str(garbage))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(W.CorruptCheckpointError, match="truncated"):
        W.load_safetensors(str(truncated))
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(b"abc")
    with pytest.raises(W.CorruptCheckpointError, match="only 3 bytes"):
        W.load_safetensors(str(tiny))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_in_bin_never_runs(tmp_path, body_dir):
    marker = tmp_path / "PWNED"
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny-test"}))
    torch.save({"emb.weight": torch.zeros(50, 8), "x": _Payload(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(W.CorruptCheckpointError, match="refuses to execute"):
        TinyModel.from_pretrained(folder)
    assert not marker.exists()


def test_plain_bin_loads(tmp_path, body_dir):
    path, model = body_dir
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "config.json").write_text((path / "config.json").read_text())
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    again = TinyModel.from_pretrained(folder)
    assert torch.equal(again(INPUT).last_hidden_state, model(INPUT).last_hidden_state)


# ---- PreTrainedModel -------------------------------------------------------------------------
def test_round_trip_is_exact_and_keeps_buffers(body_dir):
    path, model = body_dir
    assert sorted(os.listdir(path)) == ["config.json", "model.safetensors"]
    again = TinyModel.from_pretrained(path)
    assert not again.training
    assert torch.equal(again.positions, torch.arange(16))
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k


def test_head_from_body_and_body_from_head(body_dir, tmp_path, caplog):
    path, body = body_dir
    with caplog.at_level("WARNING", logger="leanformers"):
        head, info = TinyForSequenceClassification.from_pretrained(path, num_labels=3, output_loading_info=True)
    assert info["missing_keys"] == ["classifier.weight", "classifier.bias"]
    assert "newly initialized" in caplog.text and "classifier.weight" in caplog.text
    assert torch.equal(head.body.emb.weight, body.emb.weight)
    # the new head got the init of _init_weights: normal(0, 0.02) weights, zero bias
    assert torch.all(head.classifier.bias == 0) and 0.005 < head.classifier.weight.std() < 0.05
    head.save_pretrained(tmp_path / "head")
    body2, info = TinyModel.from_pretrained(tmp_path / "head", output_loading_info=True)
    assert sorted(info["unexpected_keys"]) == ["classifier.bias", "classifier.weight"]
    assert info["missing_keys"] == []
    assert torch.equal(body2.emb.weight, body.emb.weight)


def test_mismatched_sizes(body_dir, tmp_path):
    path, _ = body_dir
    TinyForSequenceClassification.from_pretrained(path, num_labels=2).save_pretrained(tmp_path / "h2")
    with pytest.raises(ValueError, match=r"classifier.weight.*ignore_mismatched_sizes=True"):
        TinyForSequenceClassification.from_pretrained(tmp_path / "h2", num_labels=4)
    model, info = TinyForSequenceClassification.from_pretrained(
        tmp_path / "h2", num_labels=4, ignore_mismatched_sizes=True, output_loading_info=True)
    assert model.classifier.weight.shape == (4, 8)
    assert [k for k, _, _ in info["mismatched_keys"]] == ["classifier.bias", "classifier.weight"]


def test_dtype_auto_and_explicit(body_dir, tmp_path):
    path, model = body_dir
    model.half().save_pretrained(tmp_path / "half")
    assert json.loads((tmp_path / "half" / "config.json").read_text())["dtype"] == "float16"
    assert TinyModel.from_pretrained(tmp_path / "half").dtype == torch.float16
    assert TinyModel.from_pretrained(tmp_path / "half", dtype=torch.float32).dtype == torch.float32
    assert TinyModel.from_pretrained(tmp_path / "half", dtype="bfloat16").dtype == torch.bfloat16


def test_sharded_save_and_load(body_dir, tmp_path):
    path, model = body_dir
    model = TinyModel.from_pretrained(path)
    model.save_pretrained(tmp_path / "sharded", max_shard_size=1000)
    files = sorted(os.listdir(tmp_path / "sharded"))
    assert "model.safetensors.index.json" in files and "model-00001-of-00002.safetensors" in files
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(model.state_dict())
    again = TinyModel.from_pretrained(tmp_path / "sharded")
    assert torch.equal(again.emb.weight, model.emb.weight)
    # re-saving unsharded into the same folder drops the stale shards
    again.save_pretrained(tmp_path / "sharded")
    assert sorted(os.listdir(tmp_path / "sharded")) == ["config.json", "model.safetensors"]


def test_save_is_atomic_and_keeps_other_files(body_dir, tmp_path, monkeypatch):
    path, model = body_dir
    (path / "tokenizer.json").write_text("{}")
    before = (path / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(W, "save_state_dict", crash)
    bigger = TinyModel(TinyConfig(vocab_size=60))
    with pytest.raises(KeyboardInterrupt):
        bigger.save_pretrained(path)
    # the old folder is intact, nothing half-written, no temporary folders left behind
    assert sorted(os.listdir(path)) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert (path / "model.safetensors").read_bytes() == before
    assert json.loads((path / "config.json").read_text())["vocab_size"] == 50
    assert [p for p in os.listdir(path.parent) if p.startswith(".tmp")] == []
    monkeypatch.undo()
    bigger.save_pretrained(path)
    assert (path / "tokenizer.json").read_text() == "{}"
    assert TinyModel.from_pretrained(path).emb.weight.shape == (60, 8)


def test_missing_weights_and_folder_errors(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "tiny-test"}))
    with pytest.raises(OSError, match="no weights"):
        TinyModel.from_pretrained(tmp_path)
    with pytest.raises(OSError, match="not a valid Hub model id"):
        TinyModel.from_pretrained(str(tmp_path / "missing" / "x"))


def test_unexpected_from_pretrained_kwarg(body_dir):
    path, _ = body_dir
    with pytest.raises(TypeError, match="not_an_option"):
        TinyModel.from_pretrained(path, not_an_option=1)


def test_model_needs_a_config():
    with pytest.raises(TypeError, match="from_pretrained"):
        TinyModel("bert-base-uncased")


# ---- Auto classes ----------------------------------------------------------------------------
def test_auto_unknown_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-arch"}))
    with pytest.raises(ValueError, match="Unknown model_type 'no-such-arch'.*Supported model types"):
        AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 3}))
    with pytest.raises(ValueError, match="has no 'model_type'"):
        AutoModel.from_pretrained(tmp_path)


def test_auto_register_user_classes(body_dir):
    path, model = body_dir
    AutoConfig.register("tiny-test", TinyConfig, exist_ok=True)
    AutoModel.register(TinyConfig, TinyModel, exist_ok=True)
    AutoModelForSequenceClassification.register(TinyConfig, TinyForSequenceClassification, exist_ok=True)
    assert isinstance(AutoConfig.from_pretrained(path), TinyConfig)
    loaded = AutoModel.from_pretrained(path)
    assert isinstance(loaded, TinyModel)
    head = AutoModelForSequenceClassification.from_pretrained(path, num_labels=5)
    assert isinstance(head, TinyForSequenceClassification) and head.config.num_labels == 5


def test_model_output_access():
    out = SequenceClassifierOutput(logits=torch.ones(1, 2))
    assert out.logits is out["logits"] is out[0]
    assert list(out.keys()) == ["logits"]
    assert out.to_tuple() == (out.logits,)
    with_loss = SequenceClassifierOutput(loss=torch.tensor(1.0), logits=torch.ones(1, 2))
    assert with_loss[1] is with_loss.logits


def test_saved_folder_and_files_are_not_private(body_dir, tmp_path):
    """Temporary folders are private (0700); the saved folder must get the usual umask-based mode."""
    path, model = body_dir
    mask = os.umask(0)
    os.umask(mask)
    model.save_pretrained(tmp_path / "public")
    assert (os.stat(tmp_path / "public").st_mode & 0o777) == 0o777 & ~mask
    for name in os.listdir(tmp_path / "public"):
        assert (os.stat(tmp_path / "public" / name).st_mode & 0o777) == 0o666 & ~mask, name
