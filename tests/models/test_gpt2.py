"""GPT-2: config, every head, padding and KV cache against the reference (fp32, atol 1e-4)."""

import json
import os
import sys
import warnings

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "generation"))

from gpt2_fixtures import EOS, TINY, VOCAB, build_tiny_gpt2, lean_model, prompts, reference_model  # noqa: E402

transformers = pytest.importorskip("transformers")

ATOL = 1e-4
HEADS = ["GPT2Model", "GPT2LMHeadModel", "GPT2ForSequenceClassification", "GPT2ForTokenClassification"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for head in HEADS:
            out[head] = build_tiny_gpt2(tmp_path_factory.mktemp(head), head=head, num_labels=3, pad_token_id=EOS)
    return out


def main_output(out):
    return out.last_hidden_state if hasattr(out, "last_hidden_state") and out.last_hidden_state is not None \
        else out.logits


def test_config_defaults_and_aliases():
    from leanformers.models.gpt2 import GPT2Config

    ours, theirs = GPT2Config().to_dict(), transformers.GPT2Config().to_dict()
    for key, value in theirs.items():
        if key not in ("transformers_version", "_name_or_path", "output_attentions"):
            assert ours.get(key) == value, key
    config = GPT2Config(n_embd=64, n_layer=3, n_head=8, n_positions=256)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
            config.max_position_embeddings) == (64, 3, 8, 256)
    config.hidden_size = 96  # an alias writes GPT-2's own key, which config.json keeps
    assert config.n_embd == 96 and "hidden_size" not in json.loads(config.to_json_string())


def test_config_json_round_trip_with_reference(tmp_path):
    from leanformers.models.gpt2 import GPT2Config

    GPT2Config(**TINY, n_inner=80, activation_function="gelu").save_pretrained(tmp_path)
    theirs = transformers.GPT2Config.from_pretrained(tmp_path)
    assert (theirs.n_embd, theirs.n_inner, theirs.activation_function, theirs.n_positions) == (32, 80, "gelu", 128)
    transformers.GPT2Config(**TINY, scale_attn_by_inverse_layer_idx=True).save_pretrained(tmp_path)
    ours = GPT2Config.from_pretrained(tmp_path)
    assert ours.scale_attn_by_inverse_layer_idx is True and ours.vocab_size == VOCAB


@pytest.mark.parametrize("head", HEADS)
def test_every_head_matches_reference(folders, head):
    ref, lean = reference_model(folders[head], head), lean_model(folders[head], head)
    ids, mask = prompts()
    with torch.no_grad():
        a, b = ref(ids, attention_mask=mask), lean(ids, attention_mask=mask)
    x, y = main_output(a), main_output(b)
    assert x.shape == y.shape
    if head in ("GPT2ForSequenceClassification",):
        torch.testing.assert_close(y, x, atol=ATOL, rtol=0)
    else:
        real = mask.bool()  # pad positions' outputs are meaningless in both libraries
        torch.testing.assert_close(y[real], x[real], atol=ATOL, rtol=0)


def test_lm_logits_unpadded_hidden_states_and_loss(folders):
    folder = folders["GPT2LMHeadModel"]
    ref, lean = reference_model(folder), lean_model(folder)
    ids, _ = prompts()
    labels = ids.clone()
    labels[:, :2] = -100
    with torch.no_grad():
        a = ref(ids, labels=labels, output_hidden_states=True)
        b = lean(ids, labels=labels, output_hidden_states=True)
    torch.testing.assert_close(b.logits, a.logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(b.loss, a.loss, atol=ATOL, rtol=0)
    assert len(b.hidden_states) == len(a.hidden_states) == TINY["n_layer"] + 1
    for x, y in zip(a.hidden_states, b.hidden_states):
        torch.testing.assert_close(y, x, atol=ATOL, rtol=0)


def test_classification_losses(folders):
    ids, mask = prompts()
    for head, labels in (("GPT2ForSequenceClassification", torch.tensor([0, 2, 1])),
                         # pad positions are ignored (-100): their outputs are meaningless
                         ("GPT2ForTokenClassification", torch.randint(0, 3, ids.shape).masked_fill(mask == 0, -100))):
        ref, lean = reference_model(folders[head], head), lean_model(folders[head], head)
        with torch.no_grad():
            a = ref(ids, attention_mask=mask, labels=labels)
            b = lean(ids, attention_mask=mask, labels=labels)
        torch.testing.assert_close(b.loss, a.loss, atol=ATOL, rtol=0)


def test_sequence_classification_pools_last_real_token(folders):
    head = "GPT2ForSequenceClassification"
    lean = lean_model(folders[head], head)
    ids, mask = prompts()
    right = torch.full_like(ids, EOS)  # the same rows padded on the right
    for row in range(ids.shape[0]):
        real = ids[row, mask[row].bool()]
        right[row, :len(real)] = real
    with torch.no_grad():
        padded = lean(right, attention_mask=mask.flip(1)).logits
        for row in range(ids.shape[0]):
            alone = lean(ids[row:row + 1, mask[row].bool()]).logits
            torch.testing.assert_close(padded[row:row + 1], alone, atol=ATOL, rtol=0)
    lean.config.pad_token_id = None
    with pytest.raises(ValueError, match="pad_token_id"):
        lean(ids)


def test_kv_cache_step_by_step_matches_full_pass(folders):
    from leanformers.cache import DynamicCache, StaticCache

    folder = folders["GPT2LMHeadModel"]
    ref, lean = reference_model(folder), lean_model(folder)
    ids, mask = prompts()
    with torch.no_grad():
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left-padded rows start at position 0
        full = ref(ids, attention_mask=mask, position_ids=positions).logits
        for cache in (DynamicCache(), StaticCache(lean.config, max_batch_size=3, max_cache_len=32)):
            first = lean(ids[:, :6], attention_mask=mask[:, :6], position_ids=positions[:, :6],
                         past_key_values=cache, use_cache=True)
            assert first.past_key_values is cache and cache.get_seq_length() == 6
            steps = [first.logits]
            for t in range(6, ids.shape[1]):
                out = lean(ids[:, t:t + 1], attention_mask=mask[:, :t + 1], position_ids=positions[:, t:t + 1],
                           past_key_values=cache, use_cache=True)
                steps.append(out.logits)
            stepwise = torch.cat(steps, dim=1)
            real = mask.bool()
            torch.testing.assert_close(stepwise[real], full[real], atol=ATOL, rtol=0)
        # several new tokens at once on top of a cache
        cache = DynamicCache()
        lean(ids[:1, :4], past_key_values=cache, use_cache=True)
        rest = lean(ids[:1, 4:], past_key_values=cache, use_cache=True).logits
        torch.testing.assert_close(rest, ref(ids[:1]).logits[:, 4:], atol=ATOL, rtol=0)


def test_logits_to_keep_and_tied_head(folders):
    folder = folders["GPT2LMHeadModel"]
    lean = lean_model(folder)
    ids, _ = prompts()
    with torch.no_grad():
        full = lean(ids).logits
        last = lean(ids, logits_to_keep=1).logits
    assert last.shape == (3, 1, VOCAB)
    torch.testing.assert_close(last, full[:, -1:], atol=1e-5, rtol=1e-5)
    assert lean.lm_head.weight is lean.transformer.wte.weight


def test_save_pretrained_is_read_by_reference(folders, tmp_path):
    lean = lean_model(folders["GPT2LMHeadModel"])
    lean.save_pretrained(tmp_path)
    assert os.path.exists(tmp_path / "generation_config.json")
    ref = reference_model(tmp_path)
    ids, _ = prompts()
    with torch.no_grad():
        torch.testing.assert_close(lean(ids).logits, ref(ids).logits, atol=ATOL, rtol=0)


def test_legacy_attention_bias_buffers_are_ignored(folders, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = folders["GPT2LMHeadModel"]
    state = load_file(os.path.join(folder, "model.safetensors"))
    state["transformer.h.0.attn.bias"] = torch.tril(torch.ones(1, 1, 128, 128))  # what old checkpoints hold
    state["transformer.h.0.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(state, str(tmp_path / "model.safetensors"))
    with open(os.path.join(folder, "config.json")) as src, open(tmp_path / "config.json", "w") as dst:
        dst.write(src.read())
    from leanformers.models.gpt2 import GPT2LMHeadModel

    _, info = GPT2LMHeadModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info["unexpected_keys"] == [] and info["missing_keys"] == []


def test_too_long_and_bad_inputs(folders):
    lean = lean_model(folders["GPT2LMHeadModel"])
    with pytest.raises(ValueError, match="n_positions=128"):
        lean(torch.ones(1, 129, dtype=torch.long))
    with pytest.raises(ValueError, match="2-D"):
        lean(torch.ones(5, dtype=torch.long))


def test_auto_classes_pick_gpt2(folders):
    import leanformers

    model = leanformers.AutoModelForCausalLM.from_pretrained(folders["GPT2LMHeadModel"])
    assert type(model).__name__ == "GPT2LMHeadModel" and model.can_generate()
    assert type(leanformers.AutoModel.from_pretrained(folders["GPT2Model"])).__name__ == "GPT2Model"
    assert not leanformers.AutoModel.from_pretrained(folders["GPT2Model"]).can_generate()


def test_training_mode_applies_the_same_dropouts_as_the_reference(folders):
    """Dropout runs only in training mode (eval skips the calls): under one seed the reference and
    we draw the same masks in the same order, so train-mode logits agree and differ from eval's."""
    folder = folders["GPT2LMHeadModel"]
    ref, lean = reference_model(folder).train(), lean_model(folder).train()
    ids, _ = prompts()
    with torch.no_grad():
        torch.manual_seed(7)
        theirs = ref(ids).logits
        torch.manual_seed(7)
        ours = lean(ids).logits
        evaluated = lean.eval()(ids).logits
    torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)
    assert (ours - evaluated).abs().max() > 1e-2  # dropout did change the training-mode pass
