"""Without a model, each new task uses transformers 4.57's default checkpoint, from the HF cache."""

import os
import shutil

import pytest

import leanformers
from leanformers.pipelines import SUPPORTED_TASKS

# (task, its default in transformers 4.57.6, the head a tiny stand-in needs)
DEFAULTS = [
    ("fill-mask", "distilbert/distilroberta-base", "fb53ab8", "masked-lm"),
    ("ner", "dbmdz/bert-large-cased-finetuned-conll03-english", "4c53496", "token-classification"),
    ("question-answering", "distilbert/distilbert-base-cased-distilled-squad", "564e9b5", "question-answering"),
    ("zero-shot-classification", "facebook/bart-large-mnli", "d7645e1", None),
    ("summarization", "sshleifer/distilbart-cnn-12-6", "a4f8f3e", None),
    ("translation_en_to_fr", "google-t5/t5-base", "a9723ea", None),
    ("text2text-generation", "google-t5/t5-base", "a9723ea", None),
]


def test_defaults_match_transformers_457(ref457):
    import json
    import subprocess

    code = ("import json; from transformers.pipelines import SUPPORTED_TASKS as T; "
            "print(json.dumps([{t: T[t]['default']['model']['pt'] for t in "
            "['fill-mask', 'token-classification', 'question-answering', 'zero-shot-classification', "
            "'summarization', 'text2text-generation']}, "
            "[[list(k), v['model']['pt']] for k, v in T['translation']['default'].items()]]))")
    out = subprocess.run([ref457.proc.args[0], "-c", code], capture_output=True, text=True, timeout=600)
    defaults, translation = json.loads(out.stdout)
    for task, default in defaults.items():
        assert SUPPORTED_TASKS[task]["default_hub"] == tuple(default)
    assert SUPPORTED_TASKS["translation"]["default_hub_by_languages"] == {tuple(k): tuple(v) for k, v in translation}


def test_translation_without_a_default_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="'translation_fr_to_ja' has no default model"):
        leanformers.pipeline("translation_fr_to_ja")
    with pytest.raises(ValueError, match="needs the languages"):
        leanformers.pipeline("translation")


@pytest.mark.parametrize("task, repo, revision, head", DEFAULTS)
def test_offline_without_cache_names_the_checkpoint(task, repo, revision, head, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError) as raised:
        leanformers.pipeline(task)
    message = str(raised.value)
    assert repo in message and f"hf download {repo}" in message and "HF_HUB_OFFLINE" in message


@pytest.mark.parametrize("task, repo, revision, head", [d for d in DEFAULTS if d[3]])
def test_default_loads_from_the_hf_cache(task, repo, revision, head, tiny_checkpoint, tmp_path, monkeypatch, capsys):
    folder = tiny_checkpoint("wordpiece", head)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = tmp_path / ("models--" + repo.replace("/", "--"))
    shutil.copytree(folder, repo_dir / "snapshots" / commit)
    os.makedirs(repo_dir / "refs")
    (repo_dir / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = leanformers.pipeline(task, device="cpu")
    assert pipe.task == leanformers.pipelines.check_task(task)[0]
    assert repo in capsys.readouterr().err
    assert os.path.realpath(pipe.model.name_or_path) != os.path.realpath(folder)
