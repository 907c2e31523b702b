"""generate() against the reference's generate on the same tiny GPT-2: token-identical outputs."""

import logging
import warnings

import pytest
import torch

from gpt2_fixtures import EOS, VOCAB, prompts

pytest.importorskip("transformers")

NEW = 64


def both(models, *args, seed=None, **kwargs):
    """(reference output, leanformers output) of generate with the same arguments (and seed)."""
    ref, lean = models
    out = []
    for model in (ref, lean):
        if seed is not None:
            torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(model.generate(*args, **kwargs))
    return out


def assert_same_tokens(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert torch.equal(a, b), (a != b).nonzero()[:5]


def test_greedy_single_prompt(models):
    ids, _ = prompts(batch=1)
    a, b = both(models, ids, max_new_tokens=NEW, do_sample=False)
    assert b.shape == (1, ids.shape[1] + NEW)
    assert_same_tokens(a, b)


@pytest.mark.parametrize("batch", [1, 3])
def test_greedy_keeps_one_copy_of_the_weights(models, batch):
    """generate() multiplies by the model's own weights (F.linear): no module gains a re-laid-out copy."""
    ref, lean = models
    ids, mask = prompts(batch=batch)
    before = {name: set(m.__dict__) for name, m in lean.named_modules()}
    a, b = both(models, ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=EOS)
    assert {name: set(m.__dict__) for name, m in lean.named_modules()} == before
    assert_same_tokens(a, b)


def test_greedy_left_padded_batch(models):
    ids, mask = prompts()
    a, b = both(models, ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=EOS)
    assert_same_tokens(a, b)


def test_left_padded_rows_equal_prompts_alone(models):
    _, lean = models
    ids, mask = prompts()
    batched = lean.generate(ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=EOS)
    for row in range(ids.shape[0]):
        alone_ids = ids[row:row + 1, mask[row].bool()]
        alone = lean.generate(alone_ids, max_new_tokens=NEW, do_sample=False)
        assert torch.equal(batched[row, ids.shape[1]:], alone[0, alone_ids.shape[1]:])


def test_mask_inferred_from_pad_token(models):
    # no attention_mask: the reference infers it from pad tokens (pad != eos here)
    ids, mask = prompts()
    ids = ids.masked_fill(mask == 0, 5)
    a, b = both(models, ids, max_new_tokens=20, do_sample=False, pad_token_id=5)
    assert_same_tokens(a, b)


@pytest.mark.parametrize("kwargs", [
    dict(num_beams=4),
    dict(num_beams=4, num_return_sequences=3),
    dict(num_beams=3, length_penalty=0.5, early_stopping=True),
    dict(num_beams=3, early_stopping="never", length_penalty=2.0),
    dict(num_beams=2, no_repeat_ngram_size=2),
])
def test_beam_search(models, kwargs):
    ids, mask = prompts()
    a, b = both(models, ids, attention_mask=mask, max_new_tokens=NEW, pad_token_id=EOS, do_sample=False, **kwargs)
    assert_same_tokens(a, b)


def test_beam_search_ending_on_eos_with_scores(models, eos_ids):
    # eos ids that the model actually produces, so beams finish at different lengths
    ids, mask = prompts()
    kwargs = dict(attention_mask=mask, max_new_tokens=30, num_beams=3, num_return_sequences=2,
                  eos_token_id=eos_ids, pad_token_id=EOS, do_sample=False, return_dict_in_generate=True,
                  output_scores=True, output_logits=True)
    a, b = both(models, ids, **kwargs)
    assert_same_tokens(a.sequences, b.sequences)
    ended = [row for row in b.sequences.tolist() if any(t in eos_ids for t in row[ids.shape[1]:])]
    assert ended, "no beam ended on eos: the test would not test finishing"
    torch.testing.assert_close(b.sequences_scores, a.sequences_scores, atol=1e-4, rtol=1e-4)
    assert torch.equal(b.beam_indices, a.beam_indices.to(b.beam_indices.dtype))
    assert len(b.scores) == len(a.scores) and len(b.logits) == len(a.logits)
    for x, y in zip(a.scores, b.scores):
        finite = torch.isfinite(x)
        assert torch.equal(finite, torch.isfinite(y))
        torch.testing.assert_close(y[finite], x[finite], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kwargs", [
    dict(no_repeat_ngram_size=2),
    dict(repetition_penalty=1.5),
    dict(repetition_penalty=0.7),
    dict(bad_words_ids=[[17], [30, 31], [5, 6, 7]]),
    dict(min_new_tokens=40, eos_token_id="picked"),
    dict(eos_token_id="picked"),
    dict(sequence_bias={(17,): -5.0, (3, 42): 4.0}),
    dict(suppress_tokens=[17, 42]),
])
def test_processors_greedy(models, eos_ids, kwargs):
    ids, mask = prompts()
    kwargs = dict(kwargs)
    if kwargs.get("eos_token_id") == "picked":
        kwargs["eos_token_id"] = eos_ids
    kwargs.setdefault("pad_token_id", EOS)
    a, b = both(models, ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, **kwargs)
    assert_same_tokens(a, b)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(temperature=0.6, top_k=10),
    dict(top_p=0.8),
    dict(top_k=0, min_p=0.1),
    dict(typical_p=0.7),
    dict(temperature=1.3, top_k=20, top_p=0.9, repetition_penalty=1.2),
    dict(num_return_sequences=3),
    dict(num_beams=3, num_return_sequences=2),
])
def test_sampling_matches_reference_under_seed(models, kwargs):
    ids, mask = prompts()
    a, b = both(models, ids, attention_mask=mask, max_new_tokens=32, do_sample=True, pad_token_id=EOS,
                seed=1234, **kwargs)
    assert_same_tokens(a, b)


def test_sampling_is_reproducible_and_top_k_1_is_greedy(models):
    _, lean = models
    ids, mask = prompts()
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(lean.generate(ids, attention_mask=mask, max_new_tokens=32, do_sample=True, pad_token_id=EOS))
    assert torch.equal(runs[0], runs[1])
    torch.manual_seed(8)
    other = lean.generate(ids, attention_mask=mask, max_new_tokens=32, do_sample=True, pad_token_id=EOS)
    assert not torch.equal(runs[0], other)
    greedy = lean.generate(ids, attention_mask=mask, max_new_tokens=32, do_sample=False, pad_token_id=EOS)
    top1 = lean.generate(ids, attention_mask=mask, max_new_tokens=32, do_sample=True, top_k=1, pad_token_id=EOS)
    assert torch.equal(greedy, top1)


def test_eos_stops_exactly_and_pads_finished_rows(models):
    _, lean = models
    ids, mask = prompts()
    free = lean.generate(ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=EOS)
    start = ids.shape[1]
    eos = int(free[0, start + 5])  # the 6th new token of row 0
    a, b = both(models, ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, eos_token_id=eos,
                pad_token_id=90)
    assert_same_tokens(a, b)
    for row in range(ids.shape[0]):
        new = free[row, start:].tolist()
        if eos in new:
            stop = new.index(eos)
            assert b[row, start:start + stop + 1].tolist() == new[:stop + 1]
            assert (b[row, start + stop + 1:] == 90).all()  # finished rows are padded
        else:
            assert b[row, start:].tolist() == new[:b.shape[1] - start]
    assert (b[0, start + 6:] == 90).all() and b.shape[1] > start + 6


def test_stop_strings(models, tiny_gpt2):
    from transformers import AutoTokenizer

    _, lean = models
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    ids = tokenizer(["the quick brown"], return_tensors="pt")["input_ids"]
    free = lean.generate(ids, max_new_tokens=NEW, do_sample=False)
    text = tokenizer.decode(free[0, ids.shape[1]:])
    stop = text[10:13]  # three characters from the middle of the continuation
    a, b = both(models, ids, max_new_tokens=NEW, do_sample=False, stop_strings=[stop, "zzzz"],
                tokenizer=tokenizer)
    assert_same_tokens(a, b)
    generated = tokenizer.decode(b[0, ids.shape[1]:])
    assert stop in generated and stop not in tokenizer.decode(b[0, ids.shape[1]:-1])
    with pytest.raises(ValueError, match="tokenizer"):
        lean.generate(ids, max_new_tokens=5, stop_strings="the")


def test_static_cache_equals_dynamic(models):
    _, lean = models
    ids, mask = prompts()
    dynamic = lean.generate(ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=EOS)
    static = lean.generate(ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=EOS,
                           cache_implementation="static")
    no_cache = lean.generate(ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=EOS,
                             use_cache=False)
    assert torch.equal(dynamic, static) and torch.equal(dynamic, no_cache)
    beams = [lean.generate(ids, attention_mask=mask, max_new_tokens=20, num_beams=3, pad_token_id=EOS, **kw)
             for kw in ({}, {"cache_implementation": "static"})]
    assert torch.equal(beams[0], beams[1])


def test_past_key_values_returned_and_reused(models):
    from leanformers.cache import DynamicCache, StaticCache

    _, lean = models
    ids, _ = prompts(batch=1)
    out = lean.generate(ids, max_new_tokens=10, do_sample=False, return_dict_in_generate=True)
    assert isinstance(out.past_key_values, DynamicCache) and out.cache is out.past_key_values
    # the last token is generated but not yet fed to the model
    assert out.past_key_values.get_seq_length() == out.sequences.shape[1] - 1
    # continue from the returned cache: the same tokens as one longer call
    more = lean.generate(out.sequences, past_key_values=out.past_key_values, max_new_tokens=10, do_sample=False)
    once = lean.generate(ids, max_new_tokens=20, do_sample=False)
    assert torch.equal(more, once)
    static = StaticCache(lean.config, max_batch_size=1, max_cache_len=64)
    via_static = lean.generate(ids, past_key_values=static, max_new_tokens=20, do_sample=False)
    assert torch.equal(via_static, once) and static.get_seq_length() == once.shape[1] - 1


def test_output_scores_and_logits_match_reference(models):
    ids, mask = prompts()
    a, b = both(models, ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=EOS,
                return_dict_in_generate=True, output_scores=True, output_logits=True, repetition_penalty=1.3)
    assert type(b).__name__ == "GenerateDecoderOnlyOutput"
    assert_same_tokens(a.sequences, b.sequences)
    assert len(b.scores) == len(b.logits) == 8
    for x, y in zip(a.scores + a.logits, b.scores + b.logits):
        torch.testing.assert_close(y, x, atol=1e-4, rtol=1e-4)


def test_default_pad_without_warning_and_right_padding_warning(models, caplog):
    _, lean = models
    ids, mask = prompts()
    with caplog.at_level(logging.WARNING, logger="leanformers"):
        lean.generate(ids, attention_mask=mask, max_new_tokens=3, do_sample=False)  # pad defaults to eos
    assert not [r for r in caplog.records if "pad" in r.getMessage().lower()]
    caplog.clear()
    right_mask = mask.flip(1)
    with caplog.at_level(logging.WARNING, logger="leanformers"):
        lean.generate(ids, attention_mask=right_mask, max_new_tokens=3, do_sample=False)
    assert any("padding_side = 'left'" in r.getMessage() for r in caplog.records)


def test_max_length_and_default_length(models):
    ids, _ = prompts(batch=1)
    a, b = both(models, ids, max_length=15, do_sample=False)
    assert_same_tokens(a, b) and b.shape[1] == 15
    a, b = both(models, ids, do_sample=False)  # the default: 20 new tokens
    assert_same_tokens(a, b)
    assert b.shape[1] == ids.shape[1] + 20


def test_clear_errors(models):
    _, lean = models
    with pytest.raises(ValueError, match="at most 128 tokens"):
        lean.generate(torch.ones(1, 129, dtype=torch.long), max_new_tokens=2)
    with pytest.raises(ValueError, match="2-D"):
        lean.generate(torch.ones(5, dtype=torch.long), max_new_tokens=2)
    with pytest.raises(ValueError, match="max_new_tokens"):
        lean.generate(torch.ones(1, 30, dtype=torch.long), max_length=10)
    with pytest.raises(ValueError, match="typos"):
        lean.generate(torch.ones(1, 3, dtype=torch.long), max_new_tokenz=2)
    with pytest.raises(ValueError, match="num_return_sequences"):
        lean.generate(torch.ones(1, 3, dtype=torch.long), max_new_tokens=2, num_return_sequences=2)
    with pytest.raises(ValueError, match="top_p"):
        lean.generate(torch.ones(1, 3, dtype=torch.long), max_new_tokens=2, do_sample=True, top_p=1.5)


def test_generation_config_object_and_model_default(models):
    from leanformers import GenerationConfig

    ref, lean = models
    ids, mask = prompts()
    config = GenerationConfig(max_new_tokens=12, num_beams=2, pad_token_id=EOS)
    b = lean.generate(ids, attention_mask=mask, generation_config=config)
    import transformers

    a = ref.generate(ids, attention_mask=mask, generation_config=transformers.GenerationConfig(
        max_new_tokens=12, num_beams=2, pad_token_id=EOS))
    assert_same_tokens(a, b)
    assert config.num_beams == 2 and config.max_length is None  # the caller's object is not changed
    assert lean.generation_config.eos_token_id == EOS  # taken from the model config at load time
