"""BatchEncoding: what a tokenizer call returns — a dict of model inputs with attribute access,
tensor conversion, and the alignment helpers (word ids, char ↔ token) read from the engine's Encodings."""

from __future__ import annotations

import sys
from collections import UserDict, namedtuple

# numpy is imported only when tensors are asked for: loading a tokenizer and encoding to lists
# must not pay its import time (nor typing's, hence namedtuple rather than typing.NamedTuple).
TENSOR_TYPES = ("pt", "np", "tf", "jax")

CharSpan = namedtuple("CharSpan", ["start", "end"])
CharSpan.__doc__ = "Character span [start, end) in the original string."
TokenSpan = namedtuple("TokenSpan", ["start", "end"])
TokenSpan.__doc__ = "Token span [start, end) in the encoded sequence."


def _tensor_type_name(tensor_type) -> str:
    # Accept enum-like objects (e.g. the reference's TensorType) by their value.
    name = getattr(tensor_type, "value", tensor_type)
    if name not in TENSOR_TYPES:
        raise ValueError(f"return_tensors={tensor_type!r} is not supported; use one of {list(TENSOR_TYPES)} or None.")
    return name


def _is_ragged(value) -> bool:
    np = sys.modules.get("numpy")  # (no numpy imported: no row can be an array)
    rows = (list, tuple, np.ndarray) if np is not None else (list, tuple)
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], rows):
        first = len(value[0])
        return any(len(row) != first for row in value)
    return False


def _to_numpy(value, key: str):
    import numpy as np

    if isinstance(value, np.ndarray):
        return value
    if _is_ragged(value):
        # The reference keeps ragged numpy outputs as object arrays of rows rather than failing.
        out = np.empty(len(value), dtype=object)
        out[:] = [np.asarray(row, dtype=np.int64) for row in value]
        return out
    try:
        array = np.asarray(value)
    except ValueError as exc:
        raise _ragged_error(key) from exc
    if array.dtype == object:
        raise _ragged_error(key)
    if array.size == 0 or array.dtype.kind in "iub":
        array = array.astype(np.int64, copy=False)
    return array


def _ragged_error(key: str) -> ValueError:
    return ValueError(
        "Unable to create tensor, you should probably activate truncation and/or padding with"
        " 'padding=True' 'truncation=True' to have batched tensors with the same length. Perhaps your"
        f" features (`{key}` in this case) have excessive nesting (inputs type `list` where type `int` is"
        " expected)."
    )


def _converter(tensor_type: str):
    """Return (is_tensor, as_tensor) for a framework; heavy imports happen only here."""
    import numpy as np

    if tensor_type == "np":
        return (lambda v: isinstance(v, np.ndarray)), (lambda v, key: _to_numpy(v, key))
    if tensor_type == "pt":
        import torch

        def as_torch(value, key):
            if _is_ragged(value):
                raise _ragged_error(key)
            # One numpy array built from the nested lists, then a zero-copy view: far faster than
            # torch.tensor walking Python lists element by element.
            return torch.from_numpy(np.ascontiguousarray(_to_numpy(value, key)))

        return torch.is_tensor, as_torch
    if tensor_type == "tf":
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise ImportError("return_tensors='tf' needs TensorFlow, which is not installed; use 'pt' or 'np'.") from exc
        return tf.is_tensor, lambda v, key: tf.constant(_to_numpy(v, key))
    try:
        import jax.numpy as jnp
    except ImportError as exc:
        raise ImportError("return_tensors='jax' needs JAX, which is not installed; use 'pt' or 'np'.") from exc
    import jax

    return (lambda v: isinstance(v, jax.Array)), (lambda v, key: jnp.asarray(_to_numpy(v, key)))


class BatchEncoding(UserDict):
    """The output of a tokenizer call: `input_ids`, `attention_mask`, ... as keys and attributes.

    `encodings` holds the engine's Encoding objects (one per row) when the tokenizer produced them; the
    alignment helpers (`word_ids`, `char_to_token`, ...) read from those.
    """

    def __init__(self, data=None, encoding=None, tensor_type=None, prepend_batch_axis=False, n_sequences=None):
        # A tokenizer call builds one of these per call: a plain dict copy is several times cheaper than
        # UserDict's generic update() through the abstract-base-class machinery.
        self.data = dict(data) if data is not None else {}
        if encoding is not None and not isinstance(encoding, list):
            encoding = list(encoding) if isinstance(encoding, tuple) else [encoding]
        self._encodings = encoding
        self._n_sequences = n_sequences
        if tensor_type is not None:
            self.convert_to_tensors(tensor_type=tensor_type, prepend_batch_axis=prepend_batch_axis)

    @property
    def n_sequences(self) -> int | None:
        """How many sequences (1 for single texts, 2 for pairs) each row was built from."""
        if self._n_sequences is None and self._encodings:
            self._n_sequences = self._encodings[0].n_sequences  # read on demand: most callers never ask
        return self._n_sequences

    def __getitem__(self, item):
        if isinstance(item, str):
            return self.data[item]
        if self._encodings is not None:
            return self._encodings[item]
        if isinstance(item, slice):
            return {key: value[item] for key, value in self.data.items()}
        raise KeyError(
            "Invalid key. Only three types of key are available: "
            "(1) string, (2) integers for backend Encoding, and (3) slices for data subsetting."
        )

    def __getattr__(self, item: str):
        # Only called for names not found normally; guard the private attributes so that copy/pickle,
        # which probe before __init__ ran, get an AttributeError instead of infinite recursion.
        if item.startswith("_") or item == "data":
            raise AttributeError(item)
        try:
            return self.data[item]
        except KeyError:
            raise AttributeError(f"'BatchEncoding' object has no attribute {item!r}") from None

    def __getstate__(self):
        return {"data": self.data, "encodings": self._encodings, "n_sequences": self._n_sequences}

    def __setstate__(self, state):
        self.data = state.get("data", {})
        self._encodings = state.get("encodings")
        self._n_sequences = state.get("n_sequences")

    def keys(self):
        return self.data.keys()

    def values(self):
        return self.data.values()

    def items(self):
        return self.data.items()

    @property
    def is_fast(self) -> bool:
        return self._encodings is not None

    @property
    def encodings(self):
        """The engine's Encoding objects, one per row, or None when built from plain lists."""
        return self._encodings

    # ---- alignment helpers -------------------------------------------------------------------
    def _encoding(self, batch_index: int, what: str):
        if not self._encodings:
            raise ValueError(f"{what}() is not available when the BatchEncoding was not produced by a tokenizer call.")
        return self._encodings[batch_index]

    def _batch_and_index(self, batch_or_index: int, index: int | None):
        if index is None:
            if self._encodings and len(self._encodings) > 1:
                raise ValueError("This BatchEncoding holds a batch: pass (batch_index, index).")
            return 0, batch_or_index
        return batch_or_index, index

    def tokens(self, batch_index: int = 0) -> list[str]:
        return self._encoding(batch_index, "tokens").tokens

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding(batch_index, "sequence_ids").sequence_ids

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding(batch_index, "word_ids").word_ids

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int:
        b, i = self._batch_and_index(batch_or_token_index, token_index)
        encoding = self._encoding(b, "token_to_sequence")
        if i < 0:
            i += len(encoding.ids)
        return encoding.token_to_sequence(i)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int:
        b, i = self._batch_and_index(batch_or_token_index, token_index)
        encoding = self._encoding(b, "token_to_word")
        if i < 0:
            i += len(encoding.ids)
        return encoding.token_to_word(i)

    def word_to_tokens(self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0):
        b, w = self._batch_and_index(batch_or_word_index, word_index)
        span = self._encoding(b, "word_to_tokens").word_to_tokens(w, sequence_index)
        return TokenSpan(*span) if span is not None else None

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None):
        b, i = self._batch_and_index(batch_or_token_index, token_index)
        span = self._encoding(b, "token_to_chars").token_to_chars(i)
        return CharSpan(*span) if span is not None else None

    def char_to_token(self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0):
        b, c = self._batch_and_index(batch_or_char_index, char_index)
        return self._encoding(b, "char_to_token").char_to_token(c, sequence_index)

    def word_to_chars(self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0):
        b, w = self._batch_and_index(batch_or_word_index, word_index)
        span = self._encoding(b, "word_to_chars").word_to_chars(w, sequence_index)
        return CharSpan(*span) if span is not None else None

    def char_to_word(self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0):
        b, c = self._batch_and_index(batch_or_char_index, char_index)
        return self._encoding(b, "char_to_word").char_to_word(c, sequence_index)

    # ---- tensors -----------------------------------------------------------------------------
    def convert_to_tensors(self, tensor_type=None, prepend_batch_axis: bool = False) -> BatchEncoding:
        """Turn the lists into 'pt' / 'np' / 'tf' / 'jax' tensors, in place (int64 for ids and masks)."""
        if tensor_type is None:
            return self
        is_tensor, as_tensor = _converter(_tensor_type_name(tensor_type))
        for key, value in self.data.items():
            if prepend_batch_axis:
                value = [value]
            if not is_tensor(value):
                self.data[key] = as_tensor(value, key)
        return self

    def to(self, device, *, non_blocking: bool = False) -> BatchEncoding:
        """Move every tensor value to `device` (non-tensors are left as they are)."""
        self.data = {
            key: value.to(device=device, non_blocking=non_blocking) if hasattr(value, "to") and callable(value.to) else value
            for key, value in self.data.items()
        }
        return self

    def __repr__(self) -> str:
        return repr(self.data)
