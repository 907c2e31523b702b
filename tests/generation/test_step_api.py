"""The step API (prepare -> DecodeState -> loop), unsupported settings, and buffer bounds."""

import warnings

import pytest
import torch

from gpt2_fixtures import EOS, prompts

pytest.importorskip("transformers")


# A setting generate() does not implement must raise, never be silently ignored.
UNSUPPORTED = [
    ("num_beam_groups", 2), ("diversity_penalty", 0.5), ("penalty_alpha", 0.6), ("guidance_scale", 1.5),
    ("prompt_lookup_num_tokens", 3), ("top_h", 0.4), ("token_healing", True), ("force_words_ids", [[3]]),
    ("low_memory", True), ("use_mtp", True), ("dola_layers", "high"), ("assistant_early_exit", 1),
    ("watermarking_config", {"greenlist_ratio": 0.25}), ("prefill_chunk_size", 16),
]


@pytest.mark.parametrize("name,value", UNSUPPORTED, ids=[n for n, _ in UNSUPPORTED])
def test_unsupported_settings_raise(models, name, value):
    _, lean = models
    ids, _ = prompts(batch=1)
    with pytest.raises(ValueError, match=f"GenerationConfig.{name}=.* is not supported"):
        lean.generate(ids, max_new_tokens=2, **{name: value})


def test_values_that_mean_off_are_accepted(models):
    """generation_config.json files of older libraries hold the old defaults of these fields."""
    _, lean = models
    ids, _ = prompts(batch=1)
    out = lean.generate(ids, max_new_tokens=2, num_beam_groups=1, diversity_penalty=0.0, num_assistant_tokens=20,
                        guidance_scale=1.0, low_memory=False)
    assert out.shape[1] == ids.shape[1] + 2


def test_encoder_settings_need_an_encoder(models):
    _, lean = models
    ids, _ = prompts(batch=1)
    for name, value in (("encoder_no_repeat_ngram_size", 2), ("encoder_repetition_penalty", 1.3)):
        with pytest.raises(ValueError, match=f"{name} compares the output with the encoder's input_ids"):
            lean.generate(ids, max_new_tokens=2, **{name: value})


def test_huge_max_new_tokens_allocates_only_the_context(models):
    """max_new_tokens=1_000_000 must not allocate a million slots: buffers stop at the context."""
    from leanformers.generation import StoppingCriteria

    class AfterFive(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), input_ids.shape[1] >= start + 5, dtype=torch.bool)

    _, lean = models
    ids, mask = prompts(batch=2)
    start = ids.shape[1]
    for beams in (1, 2):
        out = lean.generate(ids, attention_mask=mask, max_new_tokens=1_000_000, num_beams=beams,
                            stopping_criteria=[AfterFive()], pad_token_id=EOS, return_dict_in_generate=True)
        assert out.sequences.shape[1] == start + 5
        capacity = out.past_key_values.layers[0].k_buf.shape[2]
        assert capacity <= lean.config.n_positions


def test_buffers_grow_past_the_context_like_the_reference(tmp_path):
    """A RoPE model may generate past max_position_embeddings (the reference does): the buffers,
    sized by the context at first, grow; tokens stay equal to the reference's, greedy and beams."""
    import transformers

    import leanformers

    config = transformers.LlamaConfig(vocab_size=61, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8,
                                      pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    ref = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    lean = leanformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    ids = torch.randint(3, 61, (2, 5), generator=torch.Generator().manual_seed(1))
    for kwargs in ({}, {"num_beams": 3, "num_return_sequences": 2}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = ref.generate(ids, max_new_tokens=40, min_new_tokens=40, **kwargs)
        got = lean.generate(ids, max_new_tokens=40, min_new_tokens=40, **kwargs)
        assert got.shape == (ids.shape[0] * kwargs.get("num_return_sequences", 1), 45)
        assert torch.equal(got, expected)


def test_a_hand_written_loop_on_the_step_api_equals_generate(models):
    """The API a server builds on: prepare, DecodeState, processors, choose_tokens, Finished."""
    from leanformers.generation.prepare import prepare
    from leanformers.generation.step import DecodeState, Finished, choose_tokens

    _, lean = models
    ids, mask = prompts()
    kwargs = dict(attention_mask=mask, max_new_tokens=12, pad_token_id=EOS, repetition_penalty=1.3)
    expected = lean.generate(ids, **kwargs)
    with torch.no_grad():
        plan = prepare(lean, ids, None, None, None, None, dict(kwargs))
        state = DecodeState(lean, plan)
        finished = Finished(plan, ids.device)
        out = state.prefill()
        while True:
            scores = plan.processors(state.sequences[:, :state.length], out.logits[:, -1].float())
            tokens = finished.hold(choose_tokens(scores, do_sample=False))
            state.append(tokens)
            if finished.update(state, tokens):
                break
            out = state.step()
    assert torch.equal(state.sequences[:, :state.length], expected)


def test_no_import_circle():
    """generation/*.py import each other without a cycle (loops use the step API, not generate())."""
    import ast
    import os

    import leanformers.generation as package

    folder = os.path.dirname(package.__file__)
    graph = {}
    for name in os.listdir(folder):
        if name.endswith(".py") and name != "__init__.py":
            tree = ast.parse(open(os.path.join(folder, name), encoding="utf-8").read())
            graph[name[:-3]] = {node.module for node in ast.walk(tree)
                                if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}

    def visit(module, path):
        assert module not in path, f"import circle: {' -> '.join(path + [module])}"
        for dep in graph.get(module, ()):
            visit(dep, path + [module])

    for module in graph:
        visit(module, [])
    assert "utils" not in graph["beam_search"] and "utils" not in graph["step"]


def test_what_generate_returns_leaves_inference_mode(models):
    """generate() decodes in inference mode (cheaper per operation) but what it hands back behaves like
    no_grad's tensors: the ids train a model, and a returned or passed-in cache is updated in place by
    a later ordinary forward."""
    from leanformers import DynamicCache

    _, lean = models
    ids, mask = prompts()
    out = lean.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False, pad_token_id=EOS,
                        return_dict_in_generate=True, output_scores=True)
    assert not out.sequences.is_inference() and not any(s.is_inference() for s in out.scores)
    lean.train()
    try:
        lean(out.sequences, labels=out.sequences).loss.backward()  # the ids feed an autograd graph
    finally:
        lean.zero_grad(set_to_none=True)
        lean.eval()
    cache = DynamicCache()
    seq = lean.generate(ids[:1, -3:], max_new_tokens=3, do_sample=False, pad_token_id=EOS, past_key_values=cache)
    with torch.no_grad():  # an ordinary forward that appends to the cache in place
        lean(seq[:, -1:], past_key_values=cache, use_cache=True)
    assert cache.get_seq_length() == seq.shape[1]
    for result in (out.past_key_values, cache):
        k, v = result[0]
        assert not k.is_inference() and not v.is_inference()
