"""TextGenerationPipeline against the reference's pipeline on the tiny GPT-2 and its tokenizer."""

import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")

CHAT = [{"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def pipes(tiny_gpt2):
    import leanformers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = transformers.pipeline("text-generation", model=tiny_gpt2)
    ours = leanformers.pipeline("text-generation", model=tiny_gpt2)
    return ref, ours


def run(pipe, *args, seed=0, **kwargs):
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipe(*args, **kwargs)


@pytest.mark.parametrize("inputs", ["hello world", ["hello", "the quick brown fox jumps"], CHAT, [CHAT, CHAT[:]]],
                         ids=["text", "texts", "chat", "chats"])
@pytest.mark.parametrize("kwargs", [
    dict(max_new_tokens=12, do_sample=False),
    dict(max_new_tokens=8, do_sample=False, return_full_text=False),
    dict(max_new_tokens=8, num_beams=3, num_return_sequences=2, do_sample=False),
    dict(max_new_tokens=6, do_sample=False, return_tensors=True),
], ids=["greedy", "new-text", "beams", "tensors"])
def test_matches_reference(pipes, inputs, kwargs):
    ref, ours = pipes
    assert run(ours, inputs, **kwargs) == run(ref, inputs, **kwargs)


def test_sampling_defaults_match_reference_for_one_prompt(pipes):
    # the pipeline's defaults: do_sample=True, temperature=0.7 (max_new_tokens kept small here)
    ref, ours = pipes
    assert run(ours, "hello", max_new_tokens=10, seed=5) == run(ref, "hello", max_new_tokens=10, seed=5)


def test_batched_left_padding_equals_one_by_one(pipes, tiny_gpt2):
    import leanformers

    _, ours = pipes
    prompts = ["hello", "the quick brown fox jumps over", "stop"]
    one_by_one = [run(ours, p, max_new_tokens=10, do_sample=False) for p in prompts]
    tokenizer = leanformers.AutoTokenizer.from_pretrained(tiny_gpt2)
    tokenizer.pad_token = tokenizer.eos_token
    batched_pipe = leanformers.pipeline("text-generation", model=ours.model, tokenizer=tokenizer)
    assert tokenizer.padding_side == "left"  # set by the pipeline
    assert run(batched_pipe, prompts, max_new_tokens=10, do_sample=False, batch_size=3) == one_by_one


def test_stop_sequence_and_bad_input(pipes):
    ref, ours = pipes
    free = run(ours, "the quick", max_new_tokens=20, do_sample=False, return_full_text=False)[0]["generated_text"]
    stop = free[4:6]
    got = run(ours, "the quick", max_new_tokens=20, do_sample=False, stop_sequence=stop)
    assert got == run(ref, "the quick", max_new_tokens=20, do_sample=False, stop_sequence=stop)
    assert got[0]["generated_text"].endswith(stop) or stop in got[0]["generated_text"][-len(stop) - 3:]
    with pytest.raises(TypeError, match="string"):
        ours(12345)
