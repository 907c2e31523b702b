"""Chat templates rendered like the reference (ChatML, named templates, sandbox, save/load)."""

import json

import pytest

from leanformers.tokenization.auto import load_tokenizer

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TOOLS_TEMPLATE = (
    "{%- if tools %}{{ 'Tools: ' + tools | tojson }}\n{% endif %}"
    "{%- for m in messages %}{{ m.role }}: {{ m.content | trim }}{% if not loop.last %}\n{% endif %}{% endfor %}"
    "{%- if documents %}\nDocs: {{ documents | tojson(indent=2) }}{% endif %}{{ eos_token }}"
)
CHAT = [
    {"role": "system", "content": "You are <helpful> & \"kind\"."},
    {"role": "user", "content": "Hi there! ünï"},
    {"role": "assistant", "content": "Hello, how can I help?"},
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tokenizers import models, pre_tokenizers, trainers

    raw = tokenizers.Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [m["content"] for m in CHAT] * 5 + ["system user assistant tools docs"] * 5
    raw.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    path = tmp_path_factory.mktemp("chat")
    ref = transformers.PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                               bos_token="<|im_start|>")
    ref.chat_template = CHATML
    ref.save_pretrained(path)
    return path


@pytest.mark.parametrize("kwargs", [{}, {"add_generation_prompt": True}, {"continue_final_message": True}])
def test_chatml_matches_reference(backend, folder, kwargs):
    ref = transformers.AutoTokenizer.from_pretrained(str(folder))
    tok = load_tokenizer(str(folder))
    assert tok.chat_template == ref.chat_template == CHATML
    text = tok.apply_chat_template(CHAT, tokenize=False, **kwargs)
    assert text == ref.apply_chat_template(CHAT, tokenize=False, **kwargs)
    ids = tok.apply_chat_template(CHAT, return_dict=False, **kwargs)
    assert ids == ref.apply_chat_template(CHAT, return_dict=False, **kwargs)
    # like the reference 5.x, the default is a BatchEncoding ready for the model
    ours, theirs = tok.apply_chat_template(CHAT, **kwargs), ref.apply_chat_template(CHAT, **kwargs)
    assert dict(ours) == dict(theirs) and ours["input_ids"] == ids
    assert ids == tok(text, add_special_tokens=False)["input_ids"]


def test_batched_and_tensors(backend, folder):
    ref = transformers.AutoTokenizer.from_pretrained(str(folder))
    tok = load_tokenizer(str(folder))
    batch = [CHAT, CHAT[:2]]
    assert tok.apply_chat_template(batch, tokenize=False) == ref.apply_chat_template(batch, tokenize=False)
    ours = tok.apply_chat_template(batch, padding=True, return_tensors="pt", return_dict=True)
    theirs = ref.apply_chat_template(batch, padding=True, return_tensors="pt", return_dict=True)
    assert set(ours.keys()) == set(theirs.keys())
    for key in theirs:
        assert (ours[key] == theirs[key]).all()


def test_tools_documents_tojson_and_named_templates(backend, folder):
    ref = transformers.AutoTokenizer.from_pretrained(str(folder))
    tok = load_tokenizer(str(folder))
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Météo <now>",
                                               "parameters": {"type": "object", "properties": {}}}}]
    docs = [{"title": "A & B", "text": "ünï"}]
    for obj in (tok, ref):
        obj.chat_template = {"default": CHATML, "tool_use": TOOLS_TEMPLATE}
    kwargs = dict(tools=tools, documents=docs, tokenize=False)
    assert tok.apply_chat_template(CHAT, **kwargs) == ref.apply_chat_template(CHAT, **kwargs)
    assert "<now>" in tok.apply_chat_template(CHAT, **kwargs)  # tojson does not HTML-escape
    assert tok.apply_chat_template(CHAT, chat_template="tool_use", tokenize=False) == \
        ref.apply_chat_template(CHAT, chat_template="tool_use", tokenize=False)


def test_named_templates_save_and_reload(backend, folder, tmp_path):
    tok = load_tokenizer(str(folder))
    tok.chat_template = {"default": CHATML, "tool_use": TOOLS_TEMPLATE}
    tok.save_pretrained(tmp_path)
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    again = load_tokenizer(str(tmp_path))
    assert ref.chat_template == again.chat_template == {"default": CHATML, "tool_use": TOOLS_TEMPLATE}
    tok.save_pretrained(tmp_path / "legacy", save_jinja_files=False)
    config = json.loads((tmp_path / "legacy" / "tokenizer_config.json").read_text())
    assert config["chat_template"] == [{"name": "default", "template": CHATML},
                                       {"name": "tool_use", "template": TOOLS_TEMPLATE}]
    assert load_tokenizer(str(tmp_path / "legacy")).chat_template == tok.chat_template


def test_template_helpers_and_sandbox(backend, folder):
    tok = load_tokenizer(str(folder))
    with pytest.raises(Exception, match="no system"):
        tok.apply_chat_template(CHAT, chat_template="{{ raise_exception('no system') }}", tokenize=False)
    year = tok.apply_chat_template(CHAT, chat_template="{{ strftime_now('%Y') }}", tokenize=False)
    assert year.isdigit() and len(year) == 4
    with pytest.raises(Exception):  # the sandbox refuses attribute escapes
        tok.apply_chat_template(CHAT, chat_template="{{ ''.__class__.__mro__ }}", tokenize=False)
    with pytest.raises(Exception, match="underscore"):
        tok.apply_chat_template(CHAT, chat_template="{% set ns = namespace(_x=1) %}", tokenize=False)
    assert tok.apply_chat_template(CHAT, chat_template="{{ custom }}", custom="v", tokenize=False) == "v"


def test_chat_errors(backend, folder):
    tok = load_tokenizer(str(folder))
    with pytest.raises(ValueError, match="empty conversation"):
        tok.apply_chat_template([])
    with pytest.raises(ValueError, match="not compatible"):
        tok.apply_chat_template(CHAT, add_generation_prompt=True, continue_final_message=True)
    tok.chat_template = None
    with pytest.raises(ValueError, match="chat_template is not set"):
        tok.apply_chat_template(CHAT)


# Templates that would exhaust memory or time if nothing stopped them (each one is stopped within
# milliseconds to a second; without the bounds the first builds 3 GB, the loops run 10**10 times).
HOSTILE_TEMPLATES = {
    "repeat-string": ("{{ 'a' * 10**8 * 30 }}", "repetition with '\\*'"),
    "repeat-list": ("{{ ([1] * 10**9) | length }}", "repetition"),
    "doubling-tilde": ("{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}"
                       "{% endfor %}{{ ns.x }}", "'~' would hold"),
    "doubling-plus": ("{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x + ns.x %}"
                      "{% endfor %}{{ ns.x }}", "'\\+' would hold"),
    "nested-loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                     "loops ran more than 5,000,000 iterations"),
    "output": ("{% for i in range(100000) %}{% for j in range(1000) %}{{ 'abcdefghij' }}{% endfor %}{% endfor %}",
               "the rendered text would hold"),
    "set-block": ("{% set x %}{% for i in range(100000) %}{{ 'a' * 1000 }}{% endfor %}{% endset %}{{ x }}",
                  "the rendered text"),
    "ljust": ("{{ 'a'.ljust(10**10) }}", "ljust"),
    "center-filter": ("{{ 'a' | center(10**10) }}", "center"),
    "format-width": ("{{ '{:10000000000}'.format(1) }}", "format field of width"),
    "format-nested": ("{{ '{:{w}}'.format(1, w=10**10) }}", "format"),
    "percent-width": ("{{ '%*d' % (10**10, 1) }}", "%"),
    "join-filter": ("{% set s = 'a' * 5000000 %}{{ ([s] * 1000) | join }}", "a join"),
    "replace": ("{% set s = 'a' * 5000000 %}{{ s.replace('a', s) }}", "a replace"),
    "power": ("{{ 10 ** (10 ** 10) }}", "integer of"),
    "squaring": ("{% set ns = namespace(x=3) %}{% for i in range(100) %}{% set ns.x = ns.x * ns.x %}{% endfor %}"
                 "{{ ns.x > 0 }}", "integer of"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TEMPLATES))
def test_hostile_templates_are_stopped_with_a_clear_error(folder, name):
    from jinja2.exceptions import SecurityError

    template, message = HOSTILE_TEMPLATES[name]
    tok = load_tokenizer(str(folder))
    with pytest.raises(SecurityError, match=message) as info:
        tok.apply_chat_template(CHAT, chat_template=template, tokenize=False)
    assert "chat template stopped" in str(info.value)


def test_render_budget_scales_with_the_input(folder, monkeypatch):
    """A conversation larger than the fixed limit still renders (up to 8x its own size), and the limit
    can be raised by the user as the error says."""
    from jinja2.exceptions import SecurityError

    from leanformers.tokenization import chat

    monkeypatch.setattr(chat, "MAX_RENDERED_CHARS", 1000)
    tok = load_tokenizer(str(folder))
    big = [{"role": "user", "content": "word " * 2000}]
    ref = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert tok.apply_chat_template(big, tokenize=False) == ref.apply_chat_template(big, tokenize=False)
    with pytest.raises(SecurityError, match="MAX_RENDERED_CHARS"):
        tok.apply_chat_template(CHAT, chat_template="{{ 'x' * 2000 }}", tokenize=False)
    monkeypatch.setattr(chat, "MAX_RENDERED_CHARS", 5000)
    assert tok.apply_chat_template(CHAT, chat_template="{{ 'x' * 2000 }}", tokenize=False) == "x" * 2000
    monkeypatch.setattr(chat, "MAX_LOOP_ITERATIONS", 10)
    loop = "{% for i in range(11) %}{% endfor %}"
    with pytest.raises(SecurityError, match="MAX_LOOP_ITERATIONS"):
        tok.apply_chat_template(CHAT, chat_template=loop, tokenize=False)
    assert tok.apply_chat_template(CHAT, chat_template="{% for i in range(10) %}{{ loop.length }}{% endfor %}",
                                   tokenize=False) == "10" * 10
    # arithmetic with large numbers is not a width
    assert tok.apply_chat_template(CHAT, chat_template="{{ 7 % 10**12 }} {{ 2 ** 64 }}", tokenize=False) == \
        f"7 {2 ** 64}"
