"""A checkpoint cannot reach outside its own folder, and corrupt or hostile files fail clearly."""

import json
import os
import pickle
import struct

import pytest
import torch

from leanformers import weights as W
from leanformers.models.bert import BertConfig, BertModel

CONFIG = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
              intermediate_size=37, max_position_embeddings=64)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = BertModel(BertConfig(**CONFIG))
    model.save_pretrained(tmp_path / "model", max_shard_size=20_000)
    return tmp_path / "model", model


# ---- shard names in a sharded index -------------------------------------------------------------
BAD_SHARD_NAMES = ["../outside.safetensors", "/tmp/outside.safetensors", "sub/../../outside.safetensors",
                   "sub/model.safetensors", "..", "", "C:\\x.safetensors", "a\\..\\..\\x.safetensors"]


def _point_index_at(folder, shard_name):
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = shard_name
    index_path.write_text(json.dumps(index))


@pytest.mark.parametrize("shard_name", BAD_SHARD_NAMES)
def test_shard_names_outside_the_folder_are_refused(saved, tmp_path, shard_name):
    folder, model = saved
    # a real weights file where the name would lead, so following the name would load
    (tmp_path / "outside.safetensors").write_bytes((folder / "model-00001-of-00005.safetensors").read_bytes())
    _point_index_at(folder, shard_name)
    with pytest.raises(W.CorruptCheckpointError, match="not a plain file name inside the checkpoint folder"):
        BertModel.from_pretrained(folder)


def test_shard_names_outside_a_hub_cache_snapshot_are_refused(saved, tmp_path, monkeypatch):
    folder, _ = saved
    commit = "a" * 40
    repo = tmp_path / "hub" / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in os.listdir(folder):
        (snapshot / name).write_bytes((folder / name).read_bytes())
    # the shard name climbs from the snapshot into the blobs folder, where a file does exist
    (repo / "blobs").mkdir()
    (repo / "blobs" / "x.safetensors").write_bytes((folder / "model-00001-of-00005.safetensors").read_bytes())
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert BertModel.from_pretrained("org/tiny") is not None  # the intact snapshot loads
    _point_index_at(snapshot, "../../blobs/x.safetensors")
    with pytest.raises(W.CorruptCheckpointError, match="'../../blobs/x.safetensors', which is not a plain file name"):
        BertModel.from_pretrained("org/tiny")


def test_index_that_is_not_an_index(tmp_path):
    for text in ['{"weight_map": 3}', "[]", "{", "[" * 100_000]:
        (tmp_path / "model.safetensors.index.json").write_text(text)
        with pytest.raises(W.CorruptCheckpointError, match="not a valid sharded-checkpoint index"):
            W.read_index(str(tmp_path / "model.safetensors.index.json"))


# ---- safetensors headers -------------------------------------------------------------------------
def _file(path, header: bytes, data_len: int):
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * data_len)
    return str(path)


def _f32(offsets, shape=(2,)):
    return {"dtype": "F32", "shape": list(shape), "data_offsets": list(offsets)}


HEADERS = {
    "two tensors sharing bytes": ({"a": _f32([0, 8]), "b": _f32([4, 12])}, 12),
    "the same bytes twice": ({"a": _f32([0, 8]), "b": _f32([0, 8])}, 8),
    "a gap before a tensor": ({"a": _f32([4, 12])}, 12),
    "misaligned offsets": ({"a": _f32([2, 10])}, 12),
    "bytes after the last tensor": ({"a": _f32([0, 8])}, 12),
    "a negative dimension": ({"a": {"dtype": "F32", "shape": [-1, -2], "data_offsets": [0, 8]}}, 8),
}


@pytest.mark.parametrize("case", list(HEADERS))
def test_corrupt_tensor_layout_is_refused_like_the_safetensors_library(tmp_path, case):
    from safetensors.torch import load_file

    header, data_len = HEADERS[case]
    path = _file(tmp_path / "x.safetensors", json.dumps(header).encode(), data_len)
    with pytest.raises(Exception):  # the oracle refuses it too
        load_file(path)
    with pytest.raises(W.CorruptCheckpointError, match="corrupt safetensors header"):
        W.load_safetensors(path)


def test_duplicate_tensor_names_are_refused(tmp_path):
    entry = b'{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
    header = b'{"a":' + entry + b',"a":' + entry + b"}"
    path = _file(tmp_path / "x.safetensors", header, 8)
    with pytest.raises(W.CorruptCheckpointError, match=r"corrupt safetensors header \(duplicate names \['a'\]\)"):
        W.load_safetensors(path)


def test_deeply_nested_header_is_a_corrupt_header_not_a_recursion_error(tmp_path):
    path = _file(tmp_path / "x.safetensors", b"[" * 200_000 + b"]" * 200_000, 0)
    with pytest.raises(W.CorruptCheckpointError, match="corrupt safetensors header"):
        W.load_safetensors(path)
    path = _file(tmp_path / "y.safetensors", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 0)
    with pytest.raises(W.CorruptCheckpointError, match="corrupt safetensors header"):
        W.load_safetensors(path)


def test_a_valid_file_of_the_library_still_loads(tmp_path):
    from safetensors.torch import save_file

    tensors = {"a": torch.randn(3), "z": torch.zeros(0), "b": torch.arange(4, dtype=torch.int16)}
    save_file(tensors, str(tmp_path / "ok.safetensors"))
    loaded = W.load_safetensors(str(tmp_path / "ok.safetensors"))
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())


# ---- old, non-zip pytorch_model.bin ------------------------------------------------------------
def test_legacy_torch_save_bin_loads_and_pickled_objects_stay_refused(saved, tmp_path):
    folder, model = saved
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_text((folder / "config.json").read_text())
    torch.save(model.state_dict(), legacy / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    loaded = BertModel.from_pretrained(legacy)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"x": Payload()}, legacy / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    with pytest.raises(W.CorruptCheckpointError, match="refuses to execute"):
        BertModel.from_pretrained(legacy)
    (legacy / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Payload()}))
    with pytest.raises(W.CorruptCheckpointError):
        BertModel.from_pretrained(legacy)
    assert not marker.exists()


# ---- config.json values ------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, expected", [
    ("num_hidden_layers", 0, r"got 0 \(int\)"), ("num_hidden_layers", -1, r"got -1 \(int\)"),
    ("num_hidden_layers", True, r"got True \(bool\)"), ("num_hidden_layers", "two", r"got 'two' \(str\)"),
    ("hidden_size", -32, r"got -32"), ("vocab_size", 1.5, r"got 1.5 \(float\)"),
    ("intermediate_size", -1, r"or null\), got -1"), ("num_attention_heads", None, r"got None \(NoneType\)"),
])
def test_config_sizes_are_checked_with_the_key_named(saved, key, value, expected):
    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"Config key '{key}' must be a positive integer.*{expected}"):
        BertModel.from_pretrained(folder)
    with pytest.raises(ValueError, match=f"'{key}'"):
        BertConfig(**{key: value})


@pytest.mark.parametrize("key", ["__class__", "__dict__", "to_dict", "from_pretrained", "save_pretrained",
                                 "use_return_dict", "__init__"])
def test_config_keys_that_shadow_the_class_are_refused(saved, key):
    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    config[key] = {"evil": 1}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"Config key '{key}' would replace BertConfig.{key}"):
        BertModel.from_pretrained(folder)


def test_config_overrides_are_checked_too(saved):
    folder, _ = saved
    with pytest.raises(ValueError, match="'num_hidden_layers' must be a positive integer"):
        BertModel.from_pretrained(folder, num_hidden_layers=0)
    with pytest.raises(ValueError, match="would replace BertConfig.to_dict"):
        BertModel.from_pretrained(folder, to_dict=1)
    config = BertConfig(**CONFIG)
    with pytest.raises(ValueError, match="'hidden_size'"):
        config.hidden_size = "32"
    # unknown plain keys are still kept, and optional sizes may be null
    assert BertConfig(my_setting=3, intermediate_size=None).my_setting == 3
