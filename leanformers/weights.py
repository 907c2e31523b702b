"""Checkpoint files <-> state dicts.

- safetensors are memory-mapped (copy-on-write): a tensor is a view of the file's pages, so loading
  costs no copy and untouched weights never leave the disk. The header is validated first, so a
  corrupt or truncated file fails with its name and what is wrong.
- sharded checkpoints go through their ``*.index.json``.
- ``pytorch_model.bin`` is read only with ``torch.load(weights_only=True)``: pickle is never trusted.
- writing is atomic: shards and index are written to temporary names and moved into place.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import struct

import torch

__all__ = [
    "SAFE_WEIGHTS_NAME", "SAFE_WEIGHTS_INDEX_NAME", "WEIGHTS_NAME", "WEIGHTS_INDEX_NAME",
    "CorruptCheckpointError", "load_safetensors", "load_torch_bin", "load_checkpoint_files",
    "save_safetensors", "save_state_dict", "parse_size", "safetensors_metadata",
]

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
WEIGHTS_NAME = "pytorch_model.bin"
WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


class CorruptCheckpointError(OSError):
    """A weights file that cannot be read as what it claims to be."""


def _read_header(path: str, f) -> tuple[dict, int]:
    size = os.fstat(f.fileno()).st_size
    raw = f.read(8)
    if len(raw) < 8:
        raise CorruptCheckpointError(
            f"{path} is not a safetensors file: it is only {size} bytes long. Re-download or re-save it."
        )
    (header_len,) = struct.unpack("<Q", raw)
    if header_len > _MAX_HEADER or 8 + header_len > size:
        raise CorruptCheckpointError(
            f"{path} has a corrupt safetensors header (declared length {header_len} bytes, file "
            f"{size} bytes). The file is damaged or not safetensors; re-download or re-save it."
        )
    try:
        header = json.loads(f.read(header_len))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptCheckpointError(
            f"{path} has a corrupt safetensors header ({e}). Re-download or re-save the file."
        ) from None
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"{path}: the safetensors header is not a JSON object.")
    data_len = size - 8 - header_len
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = [int(d) for d in info["shape"]]
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CorruptCheckpointError(
                f"{path}: tensor {name!r} has a malformed or unsupported entry in the header: {info!r}."
            ) from None
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end <= data_len:
            raise CorruptCheckpointError(
                f"{path}: tensor {name!r} lies at bytes {begin}..{end} but the data section has "
                f"only {data_len} bytes: the file is truncated. Re-download or re-save it."
            )
        if end - begin != count * dtype.itemsize:
            raise CorruptCheckpointError(
                f"{path}: tensor {name!r} of shape {shape} and dtype {info['dtype']} needs "
                f"{count * dtype.itemsize} bytes, the header gives it {end - begin}."
            )
    return header, 8 + header_len


def safetensors_metadata(path: str) -> dict:
    with open(path, "rb") as f:
        header, _ = _read_header(path, f)
    return header.get("__metadata__") or {}


def load_safetensors(path: str, keys=None) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file as views of a private (copy-on-write) memory map."""
    with open(path, "rb") as f:
        header, data_start = _read_header(path, f)
        if os.fstat(f.fileno()).st_size == data_start:  # no tensor data at all: mmap refuses 0 bytes
            buf = b""
        else:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or (keys is not None and name not in keys):
            continue
        dtype = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        shape = info["shape"]
        if end == begin:
            out[name] = torch.empty(shape, dtype=dtype)
            continue
        flat = torch.frombuffer(buf, dtype=dtype, count=(end - begin) // dtype.itemsize,
                                offset=data_start + begin)
        out[name] = flat.view(shape)
    return out


def load_torch_bin(path: str) -> dict[str, torch.Tensor]:
    """A ``pytorch_model.bin`` through the weights-only unpickler: code in it is never run."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:
        if "weights_only" in str(e) or "Unsupported" in str(e) or "pickle" in str(e).lower():
            raise CorruptCheckpointError(
                f"{path} is not a plain weights file: it holds pickled objects other than tensors, "
                f"which leanformers refuses to execute (torch.load(weights_only=True) said: "
                f"{str(e).splitlines()[0]}). Convert the checkpoint to safetensors from a source you trust."
            ) from None
        raise CorruptCheckpointError(f"{path} cannot be read as a PyTorch weights file: {e}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CorruptCheckpointError(f"{path} does not hold a flat dict of tensors (a state dict).")
    return state


def load_checkpoint_files(paths: list[str]) -> dict[str, torch.Tensor]:
    state = {}
    for path in paths:
        state.update(load_safetensors(path) if path.endswith(".safetensors") else load_torch_bin(path))
    return state


def read_index(path: str) -> dict[str, str]:
    """``weight_map`` (tensor name -> shard file name) of a sharded checkpoint's index."""
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
        weight_map = index["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CorruptCheckpointError(f"{path} is not a valid sharded-checkpoint index ({e}).") from None
    return weight_map


# ---------------------------------------------------------------------------------------------
# writing


def parse_size(size) -> int:
    """``"5GB"``, ``"500MB"``, ``"200KiB"`` or an int -> bytes (decimal units, as the reference)."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B)\s*", str(size).upper())
    if not m:
        raise ValueError(f"max_shard_size must be an int or like '5GB' / '500MB', not {size!r}.")
    units = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    return int(float(m.group(1)) * units[m.group(2)])


def _tensor_bytes(t: torch.Tensor) -> bytes | memoryview:
    t = t.detach().to("cpu").contiguous()
    if t.numel() == 0:
        return b""
    # reinterpret as bytes without a numpy round-trip (numpy has no bfloat16)
    return memoryview(t.view(torch.uint8).reshape(-1).numpy())


def save_safetensors(tensors: dict[str, torch.Tensor], path: str, metadata: dict | None = None):
    """Write a safetensors file (header sorted by name, 8-byte aligned) to ``path``."""
    header, offset = {}, 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _DTYPE_NAMES:
            raise ValueError(f"Cannot save tensor {name!r}: dtype {t.dtype} is not supported by safetensors.")
        nbytes = t.numel() * t.element_size()
        header[name] = {"dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name in sorted(tensors):
            f.write(_tensor_bytes(tensors[name]))
        f.flush()
        os.fsync(f.fileno())


def _shards(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    shards, current, size = [], {}, 0
    for name, t in state.items():
        nbytes = t.numel() * t.element_size()
        if current and size + nbytes > max_bytes:
            shards.append(current)
            current, size = {}, 0
        current[name] = t
        size += nbytes
    shards.append(current)
    return shards


def save_state_dict(state: dict[str, torch.Tensor], folder: str, max_shard_size="50GB") -> list[str]:
    """Write ``state`` into ``folder`` as model.safetensors, or shards + index above the limit.

    Returns the file names written. ``folder`` is expected to be a fresh temporary folder; the
    caller moves it into place (see PreTrainedModel.save_pretrained).
    """
    shards = _shards(state, parse_size(max_shard_size))
    metadata = {"format": "pt"}
    if len(shards) == 1:
        save_safetensors(shards[0], os.path.join(folder, SAFE_WEIGHTS_NAME), metadata)
        return [SAFE_WEIGHTS_NAME]
    names, weight_map, total = [], {}, 0
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_safetensors(shard, os.path.join(folder, name), metadata)
        names.append(name)
        for key, t in shard.items():
            weight_map[key] = name
            total += t.numel() * t.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(folder, SAFE_WEIGHTS_INDEX_NAME), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return names + [SAFE_WEIGHTS_INDEX_NAME]
