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
