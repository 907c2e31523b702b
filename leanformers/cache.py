"""KV caches for decoders: the keys and values of tokens already seen, kept between forward calls.

Tensors are ``(batch, kv_heads, seq, head_dim)``. A model's attention layer calls
``keys, values = cache.update(k_new, v_new, layer_idx, {"cache_position": cache_position})`` and
attends over what comes back.

- ``DynamicCache`` grows with the sequence. It keeps a buffer with spare room (doubling when full)
  and hands out views of the filled part, so a decoding step writes one slot instead of copying
  the whole history with ``torch.cat``.
- ``EncoderDecoderCache`` pairs a self-attention cache with the cross-attention keys/values of
  the encoder output, computed once per generate() call.
- ``StaticCache`` is allocated once at ``max_cache_len`` and written in place at
  ``cache_position``. Its returned keys span all ``max_cache_len`` slots, so the model's mask must
  hide the slots not written yet: ``decoder_attention_mask`` below does that for every cache.
"""

from __future__ import annotations

import torch

__all__ = ["Cache", "DynamicCache", "StaticCache", "EncoderDecoderCache", "decoder_attention_mask"]


class Cache:
    """The interface every cache offers (see the subclasses)."""

    is_static = False

    def update(self, key_states, value_states, layer_idx: int, cache_kwargs: dict | None = None):
        raise NotImplementedError

    def get_seq_length(self, layer_idx: int = 0) -> int:
        raise NotImplementedError

    def get_max_cache_shape(self) -> int | None:
        """The most tokens the cache can hold, or None when it grows without bound."""
        return None

    def get_max_length(self) -> int | None:
        return self.get_max_cache_shape()

    def mask_length(self, query_length: int) -> int:
        """How many key slots attention sees once ``query_length`` new tokens are added."""
        return self.get_seq_length() + query_length

    def reorder_cache(self, beam_idx: torch.Tensor):
        raise NotImplementedError

    def crop(self, max_length: int):
        raise NotImplementedError

    def batch_repeat_interleave(self, repeats: int):
        raise NotImplementedError

    def batch_select_indices(self, indices: torch.Tensor):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, layer_idx: int):
        raise NotImplementedError

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def to_legacy_cache(self) -> tuple:
        """``((k, v), ...)`` per layer, the reference's old tuple format."""
        return tuple(self[i] for i in range(len(self)))

    @property
    def key_cache(self) -> list[torch.Tensor]:
        return [self[i][0] for i in range(len(self))]

    @property
    def value_cache(self) -> list[torch.Tensor]:
        return [self[i][1] for i in range(len(self))]


class _GrowingLayer:
    """One layer's keys and values in a buffer with spare room; ``length`` slots are filled."""

    __slots__ = ("k_buf", "v_buf", "length")

    def __init__(self):
        self.k_buf = None
        self.v_buf = None
        self.length = 0

    @property
    def keys(self):
        return None if self.k_buf is None else self.k_buf.narrow(2, 0, self.length)

    @property
    def values(self):
        return None if self.v_buf is None else self.v_buf.narrow(2, 0, self.length)

    def reserve(self, capacity: int):
        """Make room for ``capacity`` tokens, keeping what is stored (needs one update first)."""
        if self.k_buf is None or self.k_buf.shape[2] >= capacity:
            return
        k_new = self.k_buf.new_empty(self.k_buf.shape[:2] + (capacity, self.k_buf.shape[3]))
        v_new = self.v_buf.new_empty(self.v_buf.shape[:2] + (capacity, self.v_buf.shape[3]))
        k_new[:, :, : self.length] = self.k_buf[:, :, : self.length]
        v_new[:, :, : self.length] = self.v_buf[:, :, : self.length]
        self.k_buf, self.v_buf = k_new, v_new

    def append(self, key_states, value_states):
        n = key_states.shape[2]
        needed = self.length + n
        if self.k_buf is None:
            self.k_buf = key_states.new_empty(key_states.shape[:2] + (needed, key_states.shape[3]))
            self.v_buf = value_states.new_empty(value_states.shape[:2] + (needed, value_states.shape[3]))
        elif self.k_buf.shape[2] < needed:
            # double, so that n appends cost O(n) copies in all rather than O(n^2)
            self.reserve(max(needed, 2 * self.k_buf.shape[2]))
        # narrow().copy_() rather than slice assignment: the same copy with less Python indexing
        self.k_buf.narrow(2, self.length, n).copy_(key_states)
        self.v_buf.narrow(2, self.length, n).copy_(value_states)
        self.length = needed
        return self.k_buf.narrow(2, 0, needed), self.v_buf.narrow(2, 0, needed)

    def apply_batch(self, fn):
        if self.k_buf is not None:
            # keep only the filled part: the spare room would be copied for nothing
            self.k_buf = fn(self.keys)
            self.v_buf = fn(self.values)


class DynamicCache(Cache):
    """A cache that grows with the sequence (the default in ``generate``)."""

    def __init__(self, *args, **kwargs):
        # The reference accepts (ddp_cache_data=None, config=None, ...); neither is needed here.
        self.layers: list[_GrowingLayer] = []

    def _layer(self, layer_idx: int) -> _GrowingLayer:
        while len(self.layers) <= layer_idx:
            self.layers.append(_GrowingLayer())
        return self.layers[layer_idx]

    def update(self, key_states, value_states, layer_idx: int, cache_kwargs: dict | None = None):
        return self._layer(layer_idx).append(key_states, value_states)

    def reserve(self, capacity: int):
        """Preallocate room for ``capacity`` tokens in every layer seen so far (an optimisation:
        ``generate`` calls it after the prompt, knowing the final length)."""
        for layer in self.layers:
            layer.reserve(capacity)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        if layer_idx >= len(self.layers):
            return 0
        return self.layers[layer_idx].length

    @property
    def is_empty(self) -> bool:
        return self.get_seq_length() == 0

    def crop(self, max_length: int):
        """Keep the first ``max_length`` tokens (a negative value drops that many from the end)."""
        if max_length < 0:
            max_length = self.get_seq_length() + max_length
        for layer in self.layers:
            layer.length = min(layer.length, max(max_length, 0))

    def reorder_cache(self, beam_idx: torch.Tensor):
        for layer in self.layers:
            layer.apply_batch(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int):
        for layer in self.layers:
            layer.apply_batch(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor):
        for layer in self.layers:
            layer.apply_batch(lambda t: t[indices])

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, layer_idx: int):
        if layer_idx >= len(self.layers):
            raise IndexError(f"The cache has {len(self.layers)} layers; layer {layer_idx} does not exist.")
        layer = self.layers[layer_idx]
        return layer.keys, layer.values

    @classmethod
    def from_legacy_cache(cls, past_key_values) -> "DynamicCache":
        cache = cls()
        for i, (k, v) in enumerate(past_key_values or ()):
            cache.update(k, v, i)
        return cache

    def __repr__(self):
        return f"DynamicCache(layers={len(self)}, seq_length={self.get_seq_length()})"


def _config_dims(config, num_layers, num_kv_heads, head_dim):
    """Layer count, KV heads and head size from a model config (explicit values win)."""
    if config is not None:
        text = getattr(config, "get_text_config", lambda: config)()
        if num_layers is None:
            num_layers = getattr(text, "num_hidden_layers")
        heads = getattr(text, "num_attention_heads")
        if num_kv_heads is None:
            num_kv_heads = getattr(text, "num_key_value_heads", None) or heads
        if head_dim is None:
            head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    if num_layers is None:
        raise ValueError("StaticCache needs a model config, or num_layers (and num_kv_heads, head_dim).")
    return num_layers, num_kv_heads, head_dim


class StaticCache(Cache):
    """A cache of fixed size ``max_cache_len``, written in place at ``cache_kwargs["cache_position"]``.

    The buffers are allocated on the first ``update`` (taking the batch size, dtype and device of
    the keys) unless ``max_batch_size`` is given, in which case they are allocated right away.
    """

    is_static = True

    def __init__(self, config=None, max_batch_size: int | None = None, max_cache_len: int | None = None,
                 device=None, dtype=None, *, num_layers: int | None = None, num_kv_heads: int | None = None,
                 head_dim: int | None = None, **kwargs):
        if max_cache_len is None:
            max_cache_len = getattr(config, "max_position_embeddings", None)
            if max_cache_len is None:
                raise ValueError("StaticCache needs max_cache_len (the most tokens it will hold).")
        self.max_cache_len = int(max_cache_len)
        self.num_layers, self.num_kv_heads, self.head_dim = _config_dims(config, num_layers, num_kv_heads,
                                                                         head_dim)
        self.max_batch_size = max_batch_size
        self.device = device
        self.dtype = dtype
        self.keys: list[torch.Tensor | None] = [None] * self.num_layers
        self.values: list[torch.Tensor | None] = [None] * self.num_layers
        self._seen = [0] * self.num_layers  # tokens written per layer, tracked without a device sync
        if max_batch_size is not None and self.num_kv_heads is not None and self.head_dim is not None:
            self._allocate(max_batch_size, self.num_kv_heads, self.head_dim,
                           dtype or torch.get_default_dtype(), device or "cpu")

    def _allocate(self, batch, kv_heads, head_dim, dtype, device, v_head_dim=None):
        shape = (batch, kv_heads, self.max_cache_len, head_dim)
        v_shape = shape[:3] + (v_head_dim or head_dim,)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(self.num_layers)]
        self.values = [torch.zeros(v_shape, dtype=dtype, device=device) for _ in range(self.num_layers)]
        self.max_batch_size, self.dtype, self.device = batch, dtype, torch.device(device)

    def update(self, key_states, value_states, layer_idx: int, cache_kwargs: dict | None = None):
        if self.keys[layer_idx] is None:
            self._allocate(key_states.shape[0], key_states.shape[1], key_states.shape[3],
                           self.dtype or key_states.dtype, self.device or key_states.device,
                           value_states.shape[3])
        keys, values = self.keys[layer_idx], self.values[layer_idx]
        if key_states.shape[0] != keys.shape[0]:
            raise ValueError(f"StaticCache was allocated for batch size {keys.shape[0]}, but got keys for "
                             f"{key_states.shape[0]} sequences. Create a new cache for this batch size.")
        n = key_states.shape[2]
        position = (cache_kwargs or {}).get("cache_position")
        if position is None:
            # no positions given: append after what was written so far
            start = self._seen[layer_idx]
            if start + n > self.max_cache_len:
                raise ValueError(self._full_message(start + n))
            keys[:, :, start: start + n] = key_states.to(keys.dtype)
            values[:, :, start: start + n] = value_states.to(values.dtype)
            self._seen[layer_idx] = start + n
        else:
            if self._seen[layer_idx] + n > self.max_cache_len:
                raise ValueError(self._full_message(self._seen[layer_idx] + n))
            position = position.to(keys.device)
            keys.index_copy_(2, position, key_states.to(keys.dtype))
            values.index_copy_(2, position, value_states.to(values.dtype))
            self._seen[layer_idx] += n
        return keys, values

    def _full_message(self, needed):
        return (f"StaticCache holds {self.max_cache_len} tokens but {needed} are needed. Create it with a "
                f"larger max_cache_len (generate sizes it from max_length).")

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self._seen[layer_idx]

    def get_max_cache_shape(self) -> int:
        return self.max_cache_len

    def mask_length(self, query_length: int) -> int:
        return self.max_cache_len

    def reset(self):
        for t in self.keys + self.values:
            if t is not None:
                t.zero_()
        self._seen = [0] * self.num_layers

    def crop(self, max_length: int):
        if max_length < 0:
            max_length = self.get_seq_length() + max_length
        for i, t in enumerate(self.keys):
            if t is not None and self._seen[i] > max_length:
                self.keys[i][:, :, max_length:].zero_()
                self.values[i][:, :, max_length:].zero_()
            self._seen[i] = min(self._seen[i], max(max_length, 0))

    def _apply_batch(self, fn):
        for i in range(self.num_layers):
            if self.keys[i] is not None:
                self.keys[i] = fn(self.keys[i])
                self.values[i] = fn(self.values[i])
        if self.keys[0] is not None:
            self.max_batch_size = self.keys[0].shape[0]

    def reorder_cache(self, beam_idx: torch.Tensor):
        for i in range(self.num_layers):
            if self.keys[i] is not None:
                idx = beam_idx.to(self.keys[i].device)
                # in place, so the buffers stay the same tensors (what compiled graphs rely on)
                self.keys[i].copy_(self.keys[i].index_select(0, idx))
                self.values[i].copy_(self.values[i].index_select(0, idx))

    def batch_repeat_interleave(self, repeats: int):
        self._apply_batch(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor):
        self._apply_batch(lambda t: t[indices])

    def __len__(self) -> int:
        return self.num_layers

    def __getitem__(self, layer_idx: int):
        return self.keys[layer_idx], self.values[layer_idx]

    def __repr__(self):
        return (f"StaticCache(layers={self.num_layers}, max_cache_len={self.max_cache_len}, "
                f"seq_length={self.get_seq_length()})")


class EncoderDecoderCache(Cache):
    """The cache of an encoder-decoder model: ``self_attention_cache`` grows by one token per step,
    ``cross_attention_cache`` holds each decoder layer's keys/values of the encoder output, computed
    once. A cross-attention layer reads ``is_updated[layer_idx]``: False means "project the encoder
    output and store it", True means "read what is stored" (the reference's surface)."""

    def __init__(self, self_attention_cache: Cache | None = None, cross_attention_cache: Cache | None = None):
        self.self_attention_cache = self_attention_cache if self_attention_cache is not None else DynamicCache()
        self.cross_attention_cache = cross_attention_cache if cross_attention_cache is not None else DynamicCache()
        self.is_updated = {i: self.cross_attention_cache.get_seq_length(i) > 0
                           for i in range(len(self.cross_attention_cache))}

    @property
    def is_static(self):
        return self.self_attention_cache.is_static

    def update(self, key_states, value_states, layer_idx: int, cache_kwargs: dict | None = None):
        """Self-attention keys/values (cross-attention layers use ``cross_attention_cache`` directly)."""
        return self.self_attention_cache.update(key_states, value_states, layer_idx, cache_kwargs)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.self_attention_cache.get_seq_length(layer_idx)

    def get_max_cache_shape(self) -> int | None:
        return self.self_attention_cache.get_max_cache_shape()

    def mask_length(self, query_length: int) -> int:
        return self.self_attention_cache.mask_length(query_length)

    def reserve(self, capacity: int):
        if isinstance(self.self_attention_cache, DynamicCache):
            self.self_attention_cache.reserve(capacity)

    def crop(self, max_length: int):
        self.self_attention_cache.crop(max_length)

    def reorder_cache(self, beam_idx: torch.Tensor):
        self.self_attention_cache.reorder_cache(beam_idx)
        self.cross_attention_cache.reorder_cache(beam_idx)

    def batch_repeat_interleave(self, repeats: int):
        self.self_attention_cache.batch_repeat_interleave(repeats)
        self.cross_attention_cache.batch_repeat_interleave(repeats)

    def batch_select_indices(self, indices: torch.Tensor):
        self.self_attention_cache.batch_select_indices(indices)
        self.cross_attention_cache.batch_select_indices(indices)

    def __len__(self) -> int:
        return len(self.self_attention_cache)

    def __getitem__(self, layer_idx: int):
        """(self keys, self values, cross keys, cross values) of one layer, the legacy layout."""
        keys, values = self.self_attention_cache[layer_idx]
        if layer_idx < len(self.cross_attention_cache):
            return (keys, values) + tuple(self.cross_attention_cache[layer_idx])
        return keys, values

    @classmethod
    def from_legacy_cache(cls, past_key_values) -> "EncoderDecoderCache":
        cache = cls()
        for i, layer in enumerate(past_key_values or ()):
            cache.self_attention_cache.update(layer[0], layer[1], i)
            if len(layer) > 2:
                cache.cross_attention_cache.update(layer[2], layer[3], i)
                cache.is_updated[i] = True
        return cache

    def __repr__(self):
        return (f"EncoderDecoderCache(layers={len(self)}, seq_length={self.get_seq_length()}, "
                f"encoder_length={self.cross_attention_cache.get_seq_length()})")


def decoder_attention_mask(attention_mask: torch.Tensor | None, cache_position: torch.Tensor,
                           key_length: int, *, sliding_window: int | None = None,
                           is_static: bool = False) -> torch.Tensor | None:
    """The boolean attention mask of a decoder step, (batch|1, 1, query_len, key_length), True = attend.

    Query ``i`` sits at absolute position ``cache_position[i]``; key slot ``k`` holds position ``k``
    (true of both caches). A key is visible when it is not in the future, not padding
    (``attention_mask`` 2-D, 1 = token; shorter than ``key_length`` means the rest are tokens), and
    within ``sliding_window``. Returns None when the plain causal rule is exact and SDPA can use
    its fast path: then call attention with ``is_causal = query_len > 1`` (only when this
    returns None, query_len is 1 or equals key_length).
    """
    query_length = cache_position.shape[0]
    padded = attention_mask is not None and not bool(attention_mask.all())
    window_cuts = sliding_window is not None and key_length > sliding_window
    if not padded and not window_cuts and not is_static and query_length in (1, key_length):
        return None
    device = cache_position.device
    q = cache_position[:, None]
    k = torch.arange(key_length, device=device)[None, :]
    mask = k <= q
    if window_cuts:
        mask = mask & (k > q - sliding_window)
    mask = mask[None, None]
    if padded:
        am = attention_mask.to(device=device, dtype=torch.bool)
        if am.shape[-1] < key_length:
            am = torch.nn.functional.pad(am, (0, key_length - am.shape[-1]), value=True)
        mask = mask & am[:, None, None, :key_length]
        # A left-pad query sees no token at all, which makes SDPA return NaN: let it see itself.
        mask = mask | (k == q)[None, None]
    return mask
