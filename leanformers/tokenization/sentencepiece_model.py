"""Read a SentencePiece `tokenizer.model` / `spiece.model` without the sentencepiece runtime.

The file is a protobuf `ModelProto` (sentencepiece_model.proto). We only need a handful of fields, so
instead of depending on `protobuf` we walk the wire format ourselves: every field is a varint key
`(field_number << 3) | wire_type` followed by a varint, a fixed 32/64-bit value, or a length-prefixed
blob (strings, bytes and nested messages). Unknown fields are skipped, which keeps this reader
forward compatible with newer sentencepiece versions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4


@dataclass
class Piece:
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclass
class TrainerSpec:
    model_type: int = UNIGRAM
    vocab_size: int = 8000
    byte_fallback: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"
    unk_surface: str = " \u2047 "
    treat_whitespace_as_suffix: bool = False
    split_digits: bool = False


@dataclass
class NormalizerSpec:
    name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True


@dataclass
class SentencePieceModel:
    pieces: list[Piece] = field(default_factory=list)
    trainer_spec: TrainerSpec = field(default_factory=TrainerSpec)
    normalizer_spec: NormalizerSpec = field(default_factory=NormalizerSpec)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint in SentencePiece model file")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    """Yield (field_number, wire_type, value) for one message; value is int, or bytes for blobs."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
        elif wire_type == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type} in SentencePiece model file")
        yield number, wire_type, value


def _int32(value: int) -> int:
    # int32 fields are varints; negative numbers are sign-extended to 64 bits on the wire.
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _parse_piece(data: bytes) -> Piece:
    piece = Piece("")
    for number, _, value in _fields(data):
        if number == 1:
            piece.piece = value.decode("utf-8")
        elif number == 2:
            piece.score = struct.unpack("<f", value)[0]
        elif number == 3:
            piece.type = value
    return piece


_TRAINER_INT_FIELDS = {3: "model_type", 4: "vocab_size", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
_TRAINER_BOOL_FIELDS = {35: "byte_fallback", 24: "treat_whitespace_as_suffix", 25: "split_digits"}
_TRAINER_STR_FIELDS = {45: "unk_piece", 46: "bos_piece", 47: "eos_piece", 48: "pad_piece", 44: "unk_surface"}


def _parse_trainer_spec(data: bytes, spec: TrainerSpec) -> TrainerSpec:
    for number, _, value in _fields(data):
        if number in _TRAINER_INT_FIELDS:
            setattr(spec, _TRAINER_INT_FIELDS[number], _int32(value))
        elif number in _TRAINER_BOOL_FIELDS:
            setattr(spec, _TRAINER_BOOL_FIELDS[number], bool(value))
        elif number in _TRAINER_STR_FIELDS:
            setattr(spec, _TRAINER_STR_FIELDS[number], value.decode("utf-8"))
    return spec


def _parse_normalizer_spec(data: bytes, spec: NormalizerSpec) -> NormalizerSpec:
    for number, _, value in _fields(data):
        if number == 1:
            spec.name = value.decode("utf-8")
        elif number == 2:
            spec.precompiled_charsmap = bytes(value)
        elif number == 3:
            spec.add_dummy_prefix = bool(value)
        elif number == 4:
            spec.remove_extra_whitespaces = bool(value)
        elif number == 5:
            spec.escape_whitespaces = bool(value)
    return spec


def parse_sentencepiece_model(data: bytes) -> SentencePieceModel:
    """Parse the bytes of a SentencePiece ModelProto."""
    model = SentencePieceModel()
    for number, wire_type, value in _fields(data):
        if wire_type != 2:
            continue
        if number == 1:
            model.pieces.append(_parse_piece(value))
        # A message field seen twice is merged, not replaced (protobuf semantics).
        elif number == 2:
            _parse_trainer_spec(value, model.trainer_spec)
        elif number == 3:
            _parse_normalizer_spec(value, model.normalizer_spec)
    if not model.pieces:
        raise ValueError("this file holds no SentencePiece pieces; is it really a sentencepiece .model file?")
    return model


def load_sentencepiece_model(path: str) -> SentencePieceModel:
    with open(path, "rb") as f:
        data = f.read()
    try:
        return parse_sentencepiece_model(data)
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise ValueError(f"Could not read the SentencePiece model {path!r}: {exc}") from exc
