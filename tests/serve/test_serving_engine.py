"""Continuous batching (leanformers/serving/engine.py) against generate() on the same requests."""

import threading

import pytest

torch = pytest.importorskip("torch")

from leanformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from leanformers.serving.engine import Engine, GenerationJob, Sampling  # noqa: E402
from leanformers.serving.models import ModelStore  # noqa: E402

PROMPTS = ["the cat", "hello there, how are", "a quick brown fox jumps over the lazy", "i love",
           "paris is the capital of", "what is your"]


class Collect:
    """A job's events, gathered on the worker thread."""

    def __init__(self):
        self.events, self.done = [], threading.Event()

    def put(self, event):
        self.events.append(event)
        if event[0] in ("end", "error"):
            self.done.set()

    def text(self, choice=0):
        return "".join(e[2] for e in self.events if e[0] == "delta" and e[1] == choice)

    def finish(self, choice=0):
        return next(e for e in self.events if e[0] == "finish" and e[1] == choice)


@pytest.fixture(scope="module")
def engine(chat_model_dir):
    eng = Engine(ModelStore(max_models=2, device="cpu"), max_batch=4, max_queue=32).start()
    yield eng
    eng.stop()


def run_jobs(engine, model, specs):
    """Submit every (prompt, Sampling) at once; wait for all; return their collectors."""
    sinks = []
    for prompt, sampling in specs:
        sink = Collect()
        engine.submit(GenerationJob(model, prompt, sampling, sink))
        sinks.append(sink)
    for sink in sinks:
        assert sink.done.wait(60), "a request never finished"
    return sinks


def alone(model_dir, prompt, max_new, **kwargs):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    enc = tok(prompt, return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=max_new, **kwargs)
    new = out[0, enc["input_ids"].shape[1]:].tolist()
    if tok.eos_token_id in new:
        new = new[:new.index(tok.eos_token_id) + 1]
    return new, tok.decode(new, skip_special_tokens=True)


def test_greedy_batched_equals_generate_alone(engine, chat_model_dir):
    # different prompt lengths and budgets: rows join and leave the batch at different steps, and
    # more requests than --max-batch wait for a free slot
    specs = [(p, Sampling(max_tokens=5 + 3 * i, temperature=0)) for i, p in enumerate(PROMPTS)]
    sinks = run_jobs(engine, chat_model_dir, specs)
    for (prompt, sampling), sink in zip(specs, sinks):
        assert not [e for e in sink.events if e[0] == "error"], sink.events
        ids, text = alone(chat_model_dir, prompt, sampling.max_tokens, do_sample=False)
        assert sink.text() == text
        reason, tokens = sink.finish()[2:]
        assert tokens == len(ids)
        assert reason == ("stop" if len(ids) < sampling.max_tokens else "length")


def test_seeded_sampling_equals_generate_with_that_seed(engine, chat_model_dir):
    sampling = Sampling(max_tokens=12, temperature=0.9, top_p=0.8, seed=1234)
    [sink] = run_jobs(engine, chat_model_dir, [("the cat", sampling)])
    torch.manual_seed(1234)
    _, text = alone(chat_model_dir, "the cat", 12, do_sample=True, temperature=0.9, top_p=0.8)
    assert sink.text() == text
    # the same seed in a busy batch gives the same text: the row has its own generator
    sinks = run_jobs(engine, chat_model_dir, [("hello there", Sampling(max_tokens=12, temperature=1.0)),
                                              ("the cat", sampling)])
    assert sinks[1].text() == text


def test_stop_string_cuts_the_text(engine, chat_model_dir):
    [full] = run_jobs(engine, chat_model_dir, [("the cat", Sampling(max_tokens=20, temperature=0))])
    text = full.text()
    assert len(text) > 6
    stop = text[3:5]
    [cut] = run_jobs(engine, chat_model_dir, [("the cat", Sampling(max_tokens=20, temperature=0, stop=[stop]))])
    assert cut.text() == text[:text.index(stop)]
    assert cut.finish()[2] == "stop"


def test_cancelled_request_frees_its_slot(engine, chat_model_dir):
    sink = Collect()
    job = GenerationJob(chat_model_dir, "the cat", Sampling(max_tokens=200, temperature=0), sink)
    engine.submit(job)
    while not any(e[0] == "delta" for e in sink.events):
        threading.Event().wait(0.01)
    job.cancel()
    [other] = run_jobs(engine, chat_model_dir, [("i love", Sampling(max_tokens=3, temperature=0))])
    assert other.finish()[2] == "length"
    threading.Event().wait(0.2)
    assert engine.active_rows == 0
    assert not sink.done.is_set()  # a cancelled job gets no more events


def test_encoder_decoder_requests_run_alone_through_generate(tmp_path):
    from serve_helpers import train_tokenizer
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer("bpe"), eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", bos_token="<|im_start|>")
    tok.save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                        init_std=0.5, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                        pad_token_id=tok.pad_token_id, decoder_start_token_id=tok.eos_token_id,
                        forced_eos_token_id=None)
    BartForConditionalGeneration(config).eval().save_pretrained(tmp_path)
    engine = Engine(ModelStore(device="cpu"), max_batch=2).start()
    try:
        [sink] = run_jobs(engine, str(tmp_path), [("the cat sat", Sampling(max_tokens=6, temperature=0))])
    finally:
        engine.stop()
    from leanformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(str(tmp_path))
    enc = AutoTokenizer.from_pretrained(str(tmp_path))("the cat sat", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=6, do_sample=False)
    assert sink.text() == AutoTokenizer.from_pretrained(str(tmp_path)).decode(out[0], skip_special_tokens=True)


def test_least_recently_used_model_makes_room(chat_model_dir, bert_classifier_dir):
    store = ModelStore(max_models=1, device="cpu")
    store.add(chat_model_dir, pin=True)
    assert store.pipeline("tiny-chat", "text-generation")[0] == "tiny-chat"
    assert store.pipeline(bert_classifier_dir, "text-classification")[0] == "tiny-clf"
    assert len(store._pipes) == 1 and store.listed() == ["tiny-chat", "tiny-clf"]  # tiny-chat is pinned
    store.pipeline("tiny-chat", "text-generation")  # loaded again; tiny-clf (not pinned) is gone
    assert store.listed() == ["tiny-chat"]
