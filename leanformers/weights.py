"""Checkpoint files <-> state dicts.

- safetensors are memory-mapped (copy-on-write): a tensor is a view of the file's pages, so loading
  costs no copy and untouched weights never leave the disk. The header is validated first, so a
  corrupt or truncated file fails with its name and what is wrong.
- sharded checkpoints go through their ``*.index.json``.
- ``pytorch_model.bin`` is read only with ``torch.load(weights_only=True)``: pickle is never trusted.
- writing is atomic per file (configuration.write_file_atomic): each file is written beside its
  final name, fsynced and renamed over it; a sharded save writes its index last.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import re
import shutil
import struct
import zipfile

import torch

from .configuration import fsync_folder, remove_orphan_temps, temp_path, write_file_atomic, write_text_atomic

__all__ = [
    "SAFE_WEIGHTS_NAME", "SAFE_WEIGHTS_INDEX_NAME", "WEIGHTS_NAME", "WEIGHTS_INDEX_NAME",
    "CorruptCheckpointError", "load_safetensors", "load_torch_bin", "load_checkpoint_files",
    "save_safetensors", "save_state_dict", "parse_size", "read_index", "load_sharded",
    "remove_stale_weights", "clean_after_save", "torch_save_atomic", "variant_name", "is_plain_file_name",
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
        header = json.loads(f.read(header_len), object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(e, RecursionError) else e
        raise CorruptCheckpointError(
            f"{path} has a corrupt safetensors header ({reason}). Re-download or re-save the file."
        ) from None
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"{path} has a corrupt safetensors header: it is not a JSON object.")
    data_len = size - 8 - header_len
    spans = []
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
            if d < 0:
                raise CorruptCheckpointError(f"{path} has a corrupt safetensors header: tensor {name!r} "
                                             f"has the negative shape {shape}.")
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
        spans.append((begin, end, name))
    # As the safetensors library requires: the tensors tile the data section, in order, with no
    # gap and no overlap (two tensors sharing bytes would alias each other once loaded).
    expected = 0
    for begin, end, name in sorted(spans):
        if begin != expected:
            what = "overlaps the tensor before it" if begin < expected else "leaves a gap before it"
            raise CorruptCheckpointError(
                f"{path} has a corrupt safetensors header: tensor {name!r} starts at byte {begin} and "
                f"{what} (expected {expected}). Re-download or re-save the file."
            )
        expected = end
    if expected != data_len:
        raise CorruptCheckpointError(
            f"{path} has a corrupt safetensors header: its tensors end at byte {expected} of a "
            f"{data_len}-byte data section. Re-download or re-save the file."
        )
    return header, 8 + header_len


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"duplicate names {dupes}")
    return dict(pairs)


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
    # Files from torch.save before torch 1.6 are not zip archives and cannot be memory-mapped; the
    # weights-only unpickler reads them just as safely, into memory.
    legacy = not zipfile.is_zipfile(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=not legacy)
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


def load_sharded(index_path: str, locate) -> dict[str, torch.Tensor]:
    """The tensors of a sharded checkpoint; ``locate(shard_name)`` gives a shard's path.

    A save into the folder while this reads it replaces files one by one, each atomically, keeping
    the index and the files it names consistent at every moment. So after opening every shard (a
    memory map keeps its file's data even once the name points elsewhere), check that the index is
    unchanged and each name still leads to the file that was read: then what was read is one
    consistent save. Otherwise raise FileNotFoundError: the caller looks again.
    """
    with open(index_path, "rb") as f:
        raw = f.read()
    paths = [locate(shard) for shard in sorted(set(_parse_index(index_path, raw).values()))]
    state, inodes = {}, []
    for path in paths:
        before = os.stat(path).st_ino
        state.update(load_checkpoint_files([path]))
        inodes.append(before)
        if os.stat(path).st_ino != before:
            break
    try:
        with open(index_path, "rb") as f:
            same = f.read() == raw and [os.stat(p).st_ino for p in paths] == inodes
    except FileNotFoundError:
        same = False
    if not same:
        raise FileNotFoundError(f"{index_path}: the checkpoint changed while it was read (a save into "
                                f"its folder was running). Load it again.")
    return state


def read_index(path: str) -> dict[str, str]:
    """``weight_map`` (tensor name -> shard file name) of a sharded checkpoint's index.

    Shard names must be plain file names: the shards lie beside the index, so a name such as
    ``../x.safetensors``, ``/etc/x`` or ``sub/../../x`` would read weights from outside the
    checkpoint (the reference refuses these too).
    """
    with open(path, "rb") as f:
        return _parse_index(path, f.read())


def _parse_index(path: str, raw: bytes) -> dict[str, str]:
    try:
        index = json.loads(raw)
        weight_map = index["weight_map"]
        if not isinstance(weight_map, dict):
            raise TypeError("weight_map is not an object")
    except (ValueError, RecursionError, KeyError, TypeError) as e:
        raise CorruptCheckpointError(f"{path} is not a valid sharded-checkpoint index ({e!r}).") from None
    for shard in set(weight_map.values()):
        if not is_plain_file_name(shard):
            raise CorruptCheckpointError(
                f"{path} names the shard {shard!r}, which is not a plain file name inside the checkpoint "
                f"folder. leanformers reads shards only from the index's own folder; the index is "
                f"corrupt or malicious. Re-download the checkpoint from a source you trust."
            )
    return weight_map


def is_plain_file_name(name) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and "\0" not in name and os.path.basename(name) == name and not os.path.isabs(name)
            and not re.match(r"^[A-Za-z]:", name))


def variant_name(filename: str, variant: str | None) -> str:
    """``model.safetensors`` -> ``model.<variant>.safetensors``; ``model.safetensors.index.json`` ->
    ``model.safetensors.index.<variant>.json`` (the reference's naming)."""
    if not variant:
        return filename
    stem, ext = filename.rsplit(".", 1)
    return f"{stem}.{variant}.{ext}"


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
    """Write a safetensors file (header sorted by name, 8-byte aligned) to ``path``, atomically."""
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

    def write(f):
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name in sorted(tensors):
            f.write(_tensor_bytes(tensors[name]))

    write_file_atomic(path, write)


def torch_save_atomic(obj, path: str):
    """``torch.save`` through the same atomic writer (pytorch_model.bin, optimizer.pt, ...)."""
    write_file_atomic(path, lambda f: torch.save(obj, f))


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


def save_state_dict(state: dict[str, torch.Tensor], folder: str, max_shard_size="50GB", *,
                    variant: str | None = None, safe_serialization: bool = True) -> list[str]:
    """Write ``state`` into ``folder`` as one weights file, or shards + index above the limit.

    Each file is written atomically under its final name, so an older save in ``folder`` is replaced
    file by file and a reader sees the old set or the new one. Shards whose names an older save
    already uses (the index may point at them) are first written under hidden temporary names; the
    index is switched to those, the shards are then linked to their final names, and the final index
    is written last. Returns the file names written; stale files of older saves are left to
    ``remove_stale_weights``.
    """
    base = variant_name(SAFE_WEIGHTS_NAME if safe_serialization else WEIGHTS_NAME, variant)
    if safe_serialization:
        def write(tensors, path):
            save_safetensors(tensors, path, {"format": "pt"})
    else:
        def write(tensors, path):
            torch_save_atomic({k: v.contiguous() for k, v in tensors.items()}, path)
    shards = _shards(state, parse_size(max_shard_size))
    if len(shards) == 1:
        write(shards[0], os.path.join(folder, base))
        return [base]
    stem, ext = base.rsplit(".", 1)
    names = [f"{stem}-{i:05d}-of-{len(shards):05d}.{ext}" for i in range(1, len(shards) + 1)]
    existing = set(os.listdir(folder))
    # staged names keep the extension: a reader picks the format of a shard by it
    staged = {name: f"{os.path.basename(temp_path(os.path.join(folder, name)))}.{ext}"
              for name in names if name in existing}
    index_name = variant_name(SAFE_WEIGHTS_INDEX_NAME if safe_serialization else WEIGHTS_INDEX_NAME, variant)
    index_path = os.path.join(folder, index_name)
    weight_map, total = {}, 0
    fresh = []  # new names no index refers to yet: removed again if the save fails before its index
    index_names_staged = False  # while True, the staged files are the folder's checkpoint
    done = False

    def index_text(rename):
        index = {"metadata": {"total_size": total},
                 "weight_map": {k: rename.get(v, v) for k, v in sorted(weight_map.items())}}
        return json.dumps(index, indent=2) + "\n"

    try:
        for name, shard in zip(names, shards):
            fresh.append(staged.get(name, name))
            write(shard, os.path.join(folder, fresh[-1]))
            for key, t in shard.items():
                weight_map[key] = name
                total += t.numel() * t.element_size()
        if staged:
            write_text_atomic(index_path, index_text(staged))  # readers switch to the new shards here
            index_names_staged = True
            for name, tmp in staged.items():
                _link_over(os.path.join(folder, tmp), os.path.join(folder, name))
        write_text_atomic(index_path, index_text({}))
        index_names_staged, done = False, True
    finally:
        if not index_names_staged:
            for name in (staged.values() if done else fresh):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(folder, name))
    return names + [index_name]


def _link_over(src: str, dst: str):
    """Make ``dst`` the file ``src`` is, atomically, keeping ``src`` (a hard link; a copy where the
    file system has none)."""
    tmp = temp_path(dst)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _weight_file_pattern(variant: str | None) -> re.Pattern:
    v = re.escape(f".{variant}") if variant else ""
    return re.compile(rf"^(model{v}(-\d{{5}}-of-\d{{5}})?\.safetensors|model\.safetensors\.index{v}\.json|"
                      rf"pytorch_model{v}(-\d{{5}}-of-\d{{5}})?\.bin|pytorch_model\.bin\.index{v}\.json)$")


def remove_stale_weights(folder: str, written: list[str], variant: str | None = None) -> list[str]:
    """Delete weight files of an older save (same variant) that this save did not write.

    Only names of the weights layout are touched (model.safetensors, model-0000i-of-0000n.safetensors,
    their index, pytorch_model*.bin): other files in the folder are never touched. Indexes go first,
    so a reader never follows an index whose shards are gone.
    """
    pattern = _weight_file_pattern(variant)
    stale = [n for n in os.listdir(folder) if pattern.match(n) and n not in written
             and os.path.isfile(os.path.join(folder, n))]
    stale.sort(key=lambda n: (not n.endswith(".json"), n))
    for name in stale:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(folder, name))
    if stale:
        fsync_folder(folder)
    return stale


def clean_after_save(folder: str, written: list[str], variant: str | None = None):
    """After a save: remove the stale weight files it replaced and what killed savers left behind,
    except files an index still names (a save of another variant killed half-way)."""
    remove_stale_weights(folder, written, variant)
    referenced = set()
    for entry in os.listdir(folder):
        if re.match(r"^(model\.safetensors|pytorch_model\.bin)\.index(\..+)?\.json$", entry):
            try:
                referenced.update(read_index(os.path.join(folder, entry)).values())
            except (CorruptCheckpointError, OSError):
                pass
    remove_orphan_temps(folder, keep=referenced)
