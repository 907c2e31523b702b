"""A GGUF file's header, metadata and tensor table, read straight from a memory map.

GGUF (llama.cpp's format, versions 2 and 3, little-endian) is: the magic ``GGUF``, a version, the
tensor and key/value counts, the key/value metadata, one info record per tensor (name, dims, ggml
type, offset), then the tensor data, aligned to ``general.alignment`` (default 32) bytes.

Our own small parser rather than ``gguf.GGUFReader``: that one builds a numpy view per field part,
which costs seconds on a 49k-token vocabulary, while a plain loop over the bytes takes milliseconds.
Every read is bounds-checked, so a truncated or corrupt file fails with one clear message.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

import numpy as np

from ..weights import CorruptCheckpointError

__all__ = ["CorruptGGUFError", "GGUFFile", "GGUFTensorInfo", "GGML_TYPES", "read_gguf", "forget_gguf"]

_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32

# metadata value types: id -> (struct format, size) for the fixed-size ones
_SCALARS = {0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
            6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8)}
_NUMPY = {0: np.uint8, 1: np.int8, 2: np.uint16, 3: np.int16, 4: np.uint32, 5: np.int32, 6: np.float32,
          7: np.bool_, 10: np.uint64, 11: np.int64, 12: np.float64}
_STRING, _ARRAY = 8, 9

# ggml tensor types: id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
}


class CorruptGGUFError(CorruptCheckpointError):
    """A file that cannot be read as GGUF."""


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    shape: tuple[int, ...]  # row-major (PyTorch) order: the reverse of ggml's ne[]
    ggml_type: int
    offset: int  # absolute, in the file
    nbytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.ggml_type, (f"type {self.ggml_type}",))[0]


class _Cursor:
    """Bounds-checked little-endian reads from a buffer."""

    __slots__ = ("buf", "pos", "size", "path")

    def __init__(self, buf, path: str):
        self.buf, self.pos, self.size, self.path = buf, 0, len(buf), path

    def take(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.size:
            raise CorruptGGUFError(
                f"{self.path} is truncated or corrupt: a record at byte {start} needs {n} bytes but the "
                f"file is {self.size} bytes long. Re-download or re-convert the GGUF file.")
        self.pos = start + n
        return start

    def scalar(self, vtype: int):
        fmt, size = _SCALARS[vtype]
        return struct.unpack_from(fmt, self.buf, self.take(size))[0]

    def u32(self) -> int:
        return struct.unpack_from("<I", self.buf, self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack_from("<Q", self.buf, self.take(8))[0]

    def string(self) -> str:
        n = self.u64()
        start = self.take(n)
        return str(self.buf[start:start + n], "utf-8", "replace")

    def skip_string(self):
        self.take(self.u64())


class GGUFFile:
    """The parsed header of a GGUF file: ``metadata`` (key -> value), ``tensors`` (name -> info).

    ``keep_arrays``: which array-valued keys to decode (None = all). Others are stored as their
    length, which keeps reading the config of a big-vocabulary file cheap.
    """

    def __init__(self, path: str | os.PathLike, keep_arrays: set[str] | None = None):
        self.path = os.fspath(path)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 24:
                raise CorruptGGUFError(f"{self.path} is not a GGUF file: it is only {size} bytes long.")
            # a private copy-on-write map: tensors can be views of it and still be writable
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        self.metadata: dict = {}
        self.tensors: dict[str, GGUFTensorInfo] = {}
        self._parse(keep_arrays)

    def _parse(self, keep_arrays):
        cur = _Cursor(self._map, self.path)
        magic = bytes(self._map[:4])
        if magic != _MAGIC:
            raise CorruptGGUFError(f"{self.path} is not a GGUF file (it starts with {magic!r}, not b'GGUF').")
        cur.take(4)
        self.version = cur.u32()
        if self.version not in (2, 3):
            hint = (" It looks big-endian, which leanformers does not read."
                    if self.version & 0xFFFF == 0 else "")
            raise CorruptGGUFError(f"{self.path} is GGUF version {self.version}; only versions 2 and 3 can be "
                                   f"read.{hint} Re-convert it with a current llama.cpp.")
        n_tensors, n_kv = cur.u64(), cur.u64()
        if n_tensors > cur.size or n_kv > cur.size:
            raise CorruptGGUFError(f"{self.path} is corrupt: its header claims {n_tensors} tensors and "
                                   f"{n_kv} metadata entries.")
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.u32()
            keep = keep_arrays is None or key in keep_arrays
            self.metadata[key] = self._value(cur, vtype, key, keep)

        alignment = self.metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise CorruptGGUFError(f"{self.path} has an invalid general.alignment {alignment!r}.")
        infos = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.u32()
            if n_dims > 8:
                raise CorruptGGUFError(f"{self.path} is corrupt: tensor {name!r} claims {n_dims} dimensions.")
            dims = [cur.u64() for _ in range(n_dims)]
            ggml_type, offset = cur.u32(), cur.u64()
            infos.append((name, tuple(reversed(dims)), ggml_type, offset))
        data_start = -(-cur.pos // alignment) * alignment
        for name, shape, ggml_type, offset in infos:
            n_elements = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if ggml_type in GGML_TYPES:
                _, block, type_size = GGML_TYPES[ggml_type]
                if shape and shape[-1] % block:
                    raise CorruptGGUFError(f"{self.path}: tensor {name!r} has rows of {shape[-1]} values, not a "
                                           f"multiple of its {GGML_TYPES[ggml_type][0]} block size {block}.")
                nbytes = n_elements // block * type_size
            else:
                nbytes = 0  # unknown type: fails when (and only if) the tensor is read
            start = data_start + offset
            if start + nbytes > cur.size:
                raise CorruptGGUFError(
                    f"{self.path} is truncated: tensor {name!r} ends at byte {start + nbytes} but the file "
                    f"has {cur.size} bytes. Re-download the file (an interrupted download looks like this).")
            self.tensors[name] = GGUFTensorInfo(name, shape, ggml_type, start, nbytes)

    def _value(self, cur: _Cursor, vtype: int, key: str, keep: bool):
        if vtype in _SCALARS:
            return cur.scalar(vtype)
        if vtype == _STRING:
            return cur.string()
        if vtype != _ARRAY:
            raise CorruptGGUFError(f"{self.path} is corrupt: metadata key {key!r} has unknown type {vtype}.")
        item_type, count = cur.u32(), cur.u64()
        if count > cur.size:
            raise CorruptGGUFError(f"{self.path} is corrupt: array {key!r} claims {count} items.")
        if item_type in _NUMPY:
            size = _SCALARS[item_type][1] * count
            start = cur.take(size)
            if not keep:
                return count
            return np.frombuffer(self._map, dtype=_NUMPY[item_type], count=count, offset=start).tolist()
        if item_type == _STRING:
            if not keep:
                for _ in range(count):
                    cur.skip_string()
                return count
            return [cur.string() for _ in range(count)]
        if item_type == _ARRAY:
            return [self._value(cur, _ARRAY, key, keep) for _ in range(count)]  # nested arrays (rare)
        raise CorruptGGUFError(f"{self.path} is corrupt: array {key!r} has items of unknown type {item_type}.")

    @property
    def architecture(self) -> str:
        arch = self.metadata.get("general.architecture")
        if not isinstance(arch, str):
            raise CorruptGGUFError(f"{self.path} has no general.architecture: it is not a model GGUF file.")
        return arch

    def raw_bytes(self, name: str):
        """The tensor's bytes as a uint8 numpy view of the map (no copy)."""
        info = self.tensors[name]
        return np.frombuffer(self._map, dtype=np.uint8, count=info.nbytes, offset=info.offset)


_CACHE: dict[tuple, GGUFFile] = {}


def read_gguf(path: str | os.PathLike, keep_arrays: set[str] | None = None) -> GGUFFile:
    """A parsed GGUFFile, cached per (file, size, mtime) so config, weights and tokenizer share one
    parse. ``keep_arrays`` as in GGUFFile; a full parse also serves later partial requests."""
    path = os.fspath(path)
    try:
        stat = os.stat(path)
    except OSError as e:
        raise OSError(f"Cannot open GGUF file {path!r}: {e.strerror}.") from None
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    cached = _CACHE.get(key)
    if cached is not None and (cached.keep_arrays is None or
                               (keep_arrays is not None and keep_arrays <= cached.keep_arrays)):
        return cached
    parsed = GGUFFile(path, keep_arrays)
    parsed.keep_arrays = None if keep_arrays is None else set(keep_arrays)
    _CACHE.clear()  # one file at a time: the map of a big model is not kept alive for nothing
    _CACHE[key] = parsed
    return parsed


def forget_gguf(path: str | os.PathLike) -> None:
    """Drop the cached parse of ``path`` once a model or tokenizer is built from it.

    The cache shares one parse between the config, the weights and the tokenizer of one load; kept
    after that, its map holds the whole file resident (about the file's size in RSS) and a full parse
    holds the vocabulary's metadata arrays. Tensors that view the map keep it alive themselves.
    """
    real = os.path.realpath(os.fspath(path))
    for key in [k for k in _CACHE if k[0] == real]:
        del _CACHE[key]
