"""ggml block quantisations -> float32 tensors, vectorised in torch.

Each quantised row is a run of fixed-size blocks; a block holds its scale(s) as float16 and the
quantised values bit-packed. A function here takes all blocks of a tensor as a uint8 tensor of shape
``(n_blocks, bytes_per_block)`` and unpacks them at once with shifts and masks: no Python loop over
blocks. The arithmetic (and its order: ``d * q + m``) is the one of ``gguf.quants``/ggml, so the
values are bit-identical to what the reference library loads.
"""

from __future__ import annotations

import torch

__all__ = ["dequantize", "SUPPORTED_TYPES"]

QK_K = 256  # values per super-block of the k-quants

_NIBBLE_SHIFTS = torch.tensor([0, 4], dtype=torch.uint8)
_CRUMB_SHIFTS = torch.tensor([0, 2, 4, 6], dtype=torch.uint8)
_BIT_SHIFTS = torch.arange(8, dtype=torch.uint8)


def _f16(blocks: torch.Tensor, start: int) -> torch.Tensor:
    """The float16 at byte ``start`` of every block, as float32 of shape (n_blocks, 1)."""
    return blocks[:, start:start + 2].contiguous().view(torch.float16).float()


def _nibbles(qs: torch.Tensor) -> torch.Tensor:
    """(n, 16) packed bytes -> (n, 32): low nibbles are values 0..15, high nibbles 16..31."""
    return torch.cat((qs & 0x0F, qs >> 4), dim=1)


def _bits32(qh: torch.Tensor) -> torch.Tensor:
    """(n, 4) bytes of a little-endian uint32 -> its 32 bits, bit i at column i."""
    return ((qh[:, :, None] >> _BIT_SHIFTS) & 1).reshape(qh.shape[0], 32)


def _q8_0(b):
    return b[:, 2:].view(torch.int8).float() * _f16(b, 0)


def _q4_0(b):
    q = _nibbles(b[:, 2:]).view(torch.int8) - 8
    return _f16(b, 0) * q.float()


def _q4_1(b):
    return (_f16(b, 0) * _nibbles(b[:, 4:]).float()) + _f16(b, 2)


def _q5_0(b):
    q = (_nibbles(b[:, 6:]) | (_bits32(b[:, 2:6]) << 4)).view(torch.int8) - 16
    return _f16(b, 0) * q.float()


def _q5_1(b):
    q = _nibbles(b[:, 8:]) | (_bits32(b[:, 4:8]) << 4)
    return (_f16(b, 0) * q.float()) + _f16(b, 2)


def _q2_k(b):
    n = b.shape[0]
    scales, qs = b[:, :16], b[:, 16:80]
    dl = (_f16(b, 80) * (scales & 0x0F).float()).reshape(n, 16, 1)
    ml = (_f16(b, 82) * (scales >> 4).float()).reshape(n, 16, 1)
    q = ((qs.reshape(n, 2, 1, 32) >> _CRUMB_SHIFTS.reshape(1, 1, 4, 1)) & 3).reshape(n, 16, 16).float()
    return (dl * q - ml).reshape(n, QK_K)


def _q3_k(b):
    n = b.shape[0]
    hmask, qs, scales = b[:, :32], b[:, 32:96], b[:, 96:108]
    # 16 six-bit scales: low 4 bits in bytes 0..7 (two per byte), high 2 bits in bytes 8..11
    low = (scales[:, :8].reshape(n, 1, 8) >> _NIBBLE_SHIFTS.reshape(1, 2, 1)).reshape(n, 16)
    high = (scales[:, 8:].reshape(n, 1, 4) >> _CRUMB_SHIFTS.reshape(1, 4, 1)).reshape(n, 16)
    sc = (((low & 0x0F) | ((high & 3) << 4)).view(torch.int8) - 32).float()
    dl = (_f16(b, 108) * sc).reshape(n, 16, 1)
    ql = (qs.reshape(n, 2, 1, 32) >> _CRUMB_SHIFTS.reshape(1, 1, 4, 1)).reshape(n, 16, 16) & 3
    qh = (hmask.reshape(n, 1, 1, 32) >> _BIT_SHIFTS.reshape(1, 1, 8, 1)).reshape(n, 16, 16) & 1
    qh = qh ^ 1  # a set high bit means "no offset", a clear one subtracts 4
    q = (ql.view(torch.int8) - (qh << 2).view(torch.int8)).float()
    return (dl * q).reshape(n, QK_K)


def _k_scale_min(scales: torch.Tensor):
    """Q4_K/Q5_K: eight 6-bit scales and eight 6-bit mins packed into 12 bytes."""
    n = scales.shape[0]
    s = scales.reshape(n, 3, 4)
    d, m, m_d = s[:, 0], s[:, 1], s[:, 2]
    sc = torch.cat((d & 0x3F, (m_d & 0x0F) | ((d >> 2) & 0x30)), dim=1)
    mn = torch.cat((m & 0x3F, (m_d >> 4) | ((m >> 2) & 0x30)), dim=1)
    return sc, mn


def _q4_k(b):
    n = b.shape[0]
    sc, mn = _k_scale_min(b[:, 4:16])
    d = (_f16(b, 0) * sc.float()).reshape(n, 8, 1)
    dm = (_f16(b, 2) * mn.float()).reshape(n, 8, 1)
    q = ((b[:, 16:].reshape(n, 4, 1, 32) >> _NIBBLE_SHIFTS.reshape(1, 1, 2, 1)) & 0x0F).reshape(n, 8, 32)
    return (d * q.float() - dm).reshape(n, QK_K)


def _q5_k(b):
    n = b.shape[0]
    sc, mn = _k_scale_min(b[:, 4:16])
    d = (_f16(b, 0) * sc.float()).reshape(n, 8, 1)
    dm = (_f16(b, 2) * mn.float()).reshape(n, 8, 1)
    ql = ((b[:, 48:].reshape(n, 4, 1, 32) >> _NIBBLE_SHIFTS.reshape(1, 1, 2, 1)) & 0x0F).reshape(n, 8, 32)
    qh = ((b[:, 16:48].reshape(n, 1, 1, 32) >> _BIT_SHIFTS.reshape(1, 1, 8, 1)) & 1).reshape(n, 8, 32)
    return (d * (ql | (qh << 4)).float() - dm).reshape(n, QK_K)


def _q6_k(b):
    n = b.shape[0]
    scales = b[:, 192:208].view(torch.int8).float()
    d = (_f16(b, 208) * scales).reshape(n, 16, 1)
    ql = ((b[:, :128].reshape(n, 2, 1, 64) >> _NIBBLE_SHIFTS.reshape(1, 1, 2, 1)) & 0x0F).reshape(n, 8, 32)
    qh = ((b[:, 128:192].reshape(n, 2, 1, 32) >> _CRUMB_SHIFTS.reshape(1, 1, 4, 1)) & 3).reshape(n, 8, 32)
    q = ((ql | (qh << 4)).view(torch.int8) - 32).reshape(n, 16, 16).float()
    return (d * q).reshape(n, QK_K)


# ggml type name -> (values per block, bytes per block, block decoder)
_BLOCK_TYPES = {
    "Q4_0": (32, 18, _q4_0), "Q4_1": (32, 20, _q4_1), "Q5_0": (32, 22, _q5_0), "Q5_1": (32, 24, _q5_1),
    "Q8_0": (32, 34, _q8_0), "Q2_K": (256, 84, _q2_k), "Q3_K": (256, 110, _q3_k), "Q4_K": (256, 144, _q4_k),
    "Q5_K": (256, 176, _q5_k), "Q6_K": (256, 210, _q6_k),
}
_PLAIN_TYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
                "I8": torch.int8, "I16": torch.int16, "I32": torch.int32, "I64": torch.int64}
SUPPORTED_TYPES = tuple(_PLAIN_TYPES) + tuple(_BLOCK_TYPES)

# values decoded per chunk: the temporaries of a chunk stay in the CPU cache (and are recycled by
# the allocator), which makes decoding several times faster than whole-tensor passes
_CHUNK_VALUES = 1 << 18


def dequantize(raw: torch.Tensor, type_name: str, shape: tuple[int, ...], name: str = "") -> torch.Tensor:
    """The float32 tensor of ``shape`` stored as ``raw`` (uint8, row-major rows of blocks).

    F32 data comes back as a view of ``raw`` (no copy); integer types keep their dtype.
    """
    if type_name in _PLAIN_TYPES:
        t = raw.view(_PLAIN_TYPES[type_name]).reshape(shape)
        return t if not t.is_floating_point() or t.dtype == torch.float32 else t.float()
    if type_name not in _BLOCK_TYPES:
        raise NotImplementedError(
            f"Tensor {name!r} is stored as {type_name}, which leanformers cannot dequantize. Supported: "
            f"{', '.join(SUPPORTED_TYPES)}. Use a GGUF file of another quantisation (e.g. Q4_K_M or Q8_0).")
    block_size, type_size, decode = _BLOCK_TYPES[type_name]
    blocks = raw.reshape(-1, type_size)
    n = blocks.shape[0]
    chunk = max(1, _CHUNK_VALUES // block_size)
    if n <= chunk:
        return decode(blocks).reshape(shape)
    out = torch.empty(n, block_size, dtype=torch.float32)
    for start in range(0, n, chunk):
        out[start:start + chunk] = decode(blocks[start:start + chunk])
    return out.reshape(shape)
