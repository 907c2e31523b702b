import os
import warnings

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory):
    """Folder of a reference-built tiny GPT-2 LM with its tokenizer."""
    pytest.importorskip("transformers")
    from gpt2_fixtures import build_tiny_gpt2, train_tokenizer

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_tiny_gpt2(folder)
        train_tokenizer(folder)
    return str(folder)


@pytest.fixture(scope="session")
def models(tiny_gpt2):
    """(reference model, leanformers model) loaded from the same folder."""
    from gpt2_fixtures import lean_model, reference_model

    return reference_model(tiny_gpt2), lean_model(tiny_gpt2)


@pytest.fixture(scope="session")
def eos_ids(models):
    """Three token ids the leanformers model generates at different steps of different rows (greedy),
    to use as eos ids that really end rows at different lengths."""
    from gpt2_fixtures import EOS, prompts

    _, lean = models
    ids, mask = prompts()
    free = lean.generate(ids, attention_mask=mask, max_new_tokens=64, do_sample=False, pad_token_id=EOS)
    new = free[:, ids.shape[1]:].tolist()
    picks = []
    for row, step in ((0, 12), (1, 25), (2, 40)):
        token = new[row][step]
        if token not in picks and token not in new[row][:step]:
            picks.append(token)
    for row in new:  # fall back on any token not yet picked
        for token in row[5:]:
            if len(picks) < 3 and token not in picks:
                picks.append(token)
    return picks
