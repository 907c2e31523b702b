"""DynamicCache and StaticCache: the API the decoder models and generate() rely on."""

import pytest
import torch

from leanformers.cache import DynamicCache, StaticCache, decoder_attention_mask


def kv(batch=2, heads=3, seq=4, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, heads, seq, dim, generator=g), torch.randn(batch, heads, seq, dim, generator=g)


def test_dynamic_cache_grows_and_returns_everything_so_far():
    cache = DynamicCache()
    k1, v1 = kv(seq=4)
    k2, v2 = kv(seq=1, seed=1)
    keys, values = cache.update(k1, v1, 0)
    assert torch.equal(keys, k1) and cache.get_seq_length() == 4 and cache.get_seq_length(5) == 0
    for step in range(20):  # past the doubling points
        keys, values = cache.update(k2, v2, 0)
    assert keys.shape == (2, 3, 24, 5) and torch.equal(keys[:, :, :4], k1) and torch.equal(values[:, :, -1], v2[:, :, 0])
    cache.update(k1, v1, 1)
    assert len(cache) == 2 and cache[1][0].shape[2] == 4
    legacy = cache.to_legacy_cache()
    again = DynamicCache.from_legacy_cache(legacy)
    assert torch.equal(again[0][0], cache[0][0]) and again.get_seq_length() == 24


def test_dynamic_cache_reserve_crop_reorder_repeat():
    cache = DynamicCache()
    k, v = kv()
    cache.update(k, v, 0)
    cache.reserve(50)
    assert cache.layers[0].k_buf.shape[2] == 50 and torch.equal(cache[0][0], k)
    cache.crop(2)
    assert cache.get_seq_length() == 2 and torch.equal(cache[0][0], k[:, :, :2])
    cache.crop(-1)
    assert cache.get_seq_length() == 1
    cache.reorder_cache(torch.tensor([1, 0]))
    assert torch.equal(cache[0][0], k[[1, 0], :, :1])
    cache.batch_repeat_interleave(3)
    assert cache[0][0].shape[0] == 6 and torch.equal(cache[0][0][1], k[1, :, :1])


def test_static_cache_writes_in_place_at_positions():
    cache = StaticCache(max_cache_len=10, num_layers=2, num_kv_heads=3, head_dim=5, max_batch_size=2)
    assert cache.keys[0].shape == (2, 3, 10, 5) and cache.get_max_cache_shape() == 10
    buffer = cache.keys[0]
    k, v = kv(seq=4)
    keys, values = cache.update(k, v, 0, {"cache_position": torch.arange(4)})
    assert keys is buffer and torch.equal(keys[:, :, :4], k) and (keys[:, :, 4:] == 0).all()
    k1, v1 = kv(seq=1, seed=3)
    cache.update(k1, v1, 0, {"cache_position": torch.tensor([4])})
    assert cache.get_seq_length() == 5 and torch.equal(cache.keys[0][:, :, 4], k1[:, :, 0])
    cache.reorder_cache(torch.tensor([1, 0]))
    assert cache.keys[0] is buffer and torch.equal(buffer[0, :, :4], k[1])
    with pytest.raises(ValueError, match="max_cache_len"):
        cache.update(*kv(seq=6), 0, {"cache_position": torch.arange(5, 11)})
    with pytest.raises(ValueError, match="batch size"):
        cache.update(*kv(batch=3, seq=1), 1, {"cache_position": torch.tensor([0])})
    cache.crop(2)
    assert cache.get_seq_length() == 2 and (cache.keys[0][:, :, 2:] == 0).all()


def test_static_cache_sizes_from_config_and_lazily():
    from leanformers.models.gpt2 import GPT2Config

    cache = StaticCache(GPT2Config(n_layer=3, n_embd=32, n_head=4), max_cache_len=16)
    assert (cache.num_layers, cache.num_kv_heads, cache.head_dim) == (3, 4, 8)
    assert cache.keys[0] is None  # allocated by the first update, with its batch, dtype, device
    cache.update(torch.zeros(2, 4, 3, 8, dtype=torch.float64), torch.zeros(2, 4, 3, 8, dtype=torch.float64), 0,
                 {"cache_position": torch.arange(3)})
    assert cache.keys[0].dtype == torch.float64 and cache.keys[2].shape == (2, 4, 16, 8)


def test_decoder_attention_mask():
    positions = torch.arange(4)
    assert decoder_attention_mask(None, positions, 4) is None  # plain causal: SDPA's fast path
    assert decoder_attention_mask(torch.ones(2, 5), torch.tensor([4]), 5) is None
    causal = decoder_attention_mask(None, positions, 4, is_static=True)
    assert torch.equal(causal[0, 0], torch.ones(4, 4, dtype=torch.bool).tril())
    # a static cache: 8 slots, 2 queries at positions 3 and 4, row 0 left-padded by 2
    mask = decoder_attention_mask(torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]), torch.tensor([3, 4]), 8,
                                  is_static=True)
    assert mask.shape == (2, 1, 2, 8)
    assert mask[0, 0].int().tolist() == [[0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0, 0, 0]]
    assert mask[1, 0].int().tolist() == [[1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0]]
    window = decoder_attention_mask(None, torch.arange(6), 6, sliding_window=3)
    assert window[0, 0, 5].int().tolist() == [0, 0, 0, 1, 1, 1]
    # a query that is padding sees itself (never a fully masked row, which would give NaN)
    padded = decoder_attention_mask(torch.tensor([[0, 1]]), torch.arange(2), 2)
    assert padded[0, 0].int().tolist() == [[1, 0], [0, 1]]


def test_encoder_decoder_cache_keeps_both_halves_in_step():
    from leanformers import EncoderDecoderCache

    cache = EncoderDecoderCache()
    k = torch.randn(2, 3, 4, 5)
    for layer in range(2):
        cache.update(k, k, layer)
        cache.cross_attention_cache.update(k[:, :, :2], k[:, :, :2], layer)
        cache.is_updated[layer] = True
    assert cache.get_seq_length() == 4 and len(cache) == 2 and len(cache[0]) == 4
    cache.reorder_cache(torch.tensor([1, 0]))  # beam reordering moves self and cross keys together
    assert torch.equal(cache[0][0][0], k[1]) and torch.equal(cache[0][2][0], k[1, :, :2])
    again = EncoderDecoderCache.from_legacy_cache(cache.to_legacy_cache())
    assert again.is_updated == {0: True, 1: True} and again.get_seq_length() == 4
    assert torch.equal(again[1][3], cache[1][3])
