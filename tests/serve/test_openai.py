"""The OpenAI routes through the official `openai` client, checked against generate() on the same model."""

import pytest

openai = pytest.importorskip("openai")
torch = pytest.importorskip("torch")

from serve_helpers import http  # noqa: E402

from leanformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the cat sat on"}]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def reference(chat_model_dir):
    """generate() alone on the chat prompt: the new token ids and their text."""
    tok = AutoTokenizer.from_pretrained(chat_model_dir)
    model = AutoModelForCausalLM.from_pretrained(chat_model_dir)

    def run(messages, max_new, **kwargs):
        enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
        out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, **kwargs)
        new = out[0, enc["input_ids"].shape[1]:].tolist()
        if tok.eos_token_id in new:
            new = new[:new.index(tok.eos_token_id) + 1]
        return new, tok.decode(new, skip_special_tokens=True), enc["input_ids"].shape[1]

    return run


def test_models_and_health(client, server):
    ids = [m.id for m in client.models.list()]
    assert ids == ["tiny-chat", "tiny-clf"]
    status, _, body = http("GET", server.url + "/health")
    assert status == 200 and body["status"] == "ok"


def test_chat_completion_equals_generate(client, reference):
    new, text, prompt = reference(MESSAGES, 12)
    out = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=12, temperature=0)
    assert out.object == "chat.completion" and out.model == "tiny-chat"
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].message.content == text
    assert out.choices[0].finish_reason == ("length" if len(new) == 12 else "stop")
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (prompt, len(new))
    assert out.usage.total_tokens == prompt + len(new)
    # max_completion_tokens is the newer name of the same limit
    again = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_completion_tokens=12,
                                           temperature=0)
    assert again.choices[0].message.content == text


def test_streamed_chat_equals_generate_and_reports_usage(client, reference):
    new, text, prompt = reference(MESSAGES, 10)
    stream = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=10, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == text
    assert len([p for p in pieces if p]) > 1  # streamed piece by piece, not in one block
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == \
        ["length" if len(new) == 10 else "stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(new)
    assert chunks[-1].usage.prompt_tokens == prompt


def test_stream_ends_with_done(server):
    body = {"model": "tiny-chat", "messages": MESSAGES, "max_tokens": 3, "stream": True}
    status, headers, text = http("POST", server.url + "/v1/chat/completions", body)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    lines = [line for line in text.splitlines() if line.startswith("data:")]
    assert len(lines) >= 3 and lines[-1] == "data: [DONE]"


def test_n_seed_and_stop(client):
    kwargs = dict(model="tiny-chat", messages=MESSAGES, max_tokens=16, temperature=1.0, seed=7)
    a = client.chat.completions.create(n=3, **kwargs)
    b = client.chat.completions.create(n=3, **kwargs)
    assert [c.index for c in a.choices] == [0, 1, 2]
    assert [c.message.content for c in a.choices] == [c.message.content for c in b.choices]  # seeded
    greedy = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=16, temperature=0)
    text = greedy.choices[0].message.content
    stop = text[4:6]
    cut = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=16, temperature=0,
                                         stop=[stop])
    assert cut.choices[0].message.content == text[:text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_penalties_change_the_output(client):
    base = dict(model="tiny-chat", messages=MESSAGES, max_tokens=30, temperature=0)
    plain = client.chat.completions.create(**base).choices[0].message.content
    penalized = client.chat.completions.create(frequency_penalty=2.0, presence_penalty=2.0, **base)
    assert penalized.choices[0].message.content != plain


def test_completions(client, chat_model_dir):
    tok = AutoTokenizer.from_pretrained(chat_model_dir)
    model = AutoModelForCausalLM.from_pretrained(chat_model_dir)
    prompts = ["the cat", "hello there, how"]
    out = client.completions.create(model="tiny-chat", prompt=prompts, max_tokens=8, temperature=0)
    assert out.object == "text_completion" and len(out.choices) == 2
    for prompt, choice in zip(prompts, sorted(out.choices, key=lambda c: c.index)):
        enc = tok(prompt, return_tensors="pt")
        ids = model.generate(**enc, max_new_tokens=8, do_sample=False)[0, enc["input_ids"].shape[1]:].tolist()
        if tok.eos_token_id in ids:
            ids = ids[:ids.index(tok.eos_token_id)]
        assert choice.text == tok.decode(ids, skip_special_tokens=True)
    streamed = client.completions.create(model="tiny-chat", prompt="the cat", max_tokens=8, temperature=0,
                                         stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == out.choices[0].text


def test_model_loaded_on_first_use_by_path(client, chat_model_dir, server):
    # a folder path is loaded on first use and listed by its own name
    out = client.completions.create(model=chat_model_dir, prompt="the cat", max_tokens=2, temperature=0)
    assert out.model == "tiny-chat"
