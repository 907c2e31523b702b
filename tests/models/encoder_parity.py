"""Parity tests shared by the encoder models (BERT, DistilBERT, RoBERTa).

The reference library builds tiny random models (``XConfig(...)`` + ``XForY(config).save_pretrained``)
once per session; the tests load those same files with leanformers and compare numbers, losses,
loading reports and saved files. ``test_<arch>.py`` imports the ``test_*`` functions below and defines
the ``arch`` and ``head`` fixtures they run with.
"""

import json
import logging
import os

import pytest
import torch

ATOL = 1e-5

# tiny configs in each architecture's own vocabulary (hidden 32, 2 layers, 4 heads, vocab 99)
TINY = {
    "bert": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=37, max_position_embeddings=64, type_vocab_size=2),
    "roberta": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=37, max_position_embeddings=64, type_vocab_size=2),
    "distilbert": dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                       max_position_embeddings=64),
}
PREFIX = {"bert": "Bert", "roberta": "Roberta", "distilbert": "DistilBert"}
PAD = {"roberta": 1}  # pad_token_id where it is not 0 (other test files add their architectures to these)
NO_TOKEN_TYPES = {"distilbert"}  # architectures without token_type_ids
CLASSIFIERS = ("ForSequenceClassification", "ForTokenClassification")  # built with num_labels=3


class Parity:
    """Builds reference checkpoints, inputs and labels, and compares outputs."""

    def __init__(self, tmp_path_factory):
        import transformers

        self.T = transformers
        self._tmp = tmp_path_factory
        self._built = {}

    # ---- reference side -------------------------------------------------------------------------
    def config_kwargs(self, arch, class_name, **overrides):
        kwargs = dict(TINY[arch])
        if class_name.endswith(CLASSIFIERS):
            kwargs["num_labels"] = 3
        kwargs.update(overrides)
        return kwargs

    def checkpoint(self, arch, class_name, **overrides) -> str:
        """A folder saved by the reference: ``<Prefix><class_name>(config).save_pretrained(folder)``."""
        key = (arch, class_name, tuple(sorted((k, repr(v)) for k, v in overrides.items())))
        if key not in self._built:
            torch.manual_seed(len(self._built))
            T = self.T
            config = getattr(T, PREFIX[arch] + "Config")(**self.config_kwargs(arch, class_name, **overrides))
            model = getattr(T, PREFIX[arch] + class_name)(config)
            # make every weight non-trivial (LayerNorms and biases start at ones/zeros)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 0.02)
            folder = str(self._tmp.mktemp(f"{arch}-{class_name}"))
            model.save_pretrained(folder)
            self._built[key] = folder
        return self._built[key]

    def reference(self, arch, class_name, folder, **kwargs):
        """The reference model loaded from ``folder`` (eager attention, so it can return attentions)."""
        cls = getattr(self.T, PREFIX[arch] + class_name)
        loaded = cls.from_pretrained(folder, attn_implementation="eager", **kwargs)
        if isinstance(loaded, tuple):  # output_loading_info=True
            return loaded[0].eval(), loaded[1]
        return loaded.eval()

    def lean(self, arch, class_name, folder, **kwargs):
        import leanformers

        return getattr(leanformers, PREFIX[arch] + class_name).from_pretrained(folder, **kwargs)

    # ---- inputs -------------------------------------------------------------------------------
    def inputs(self, arch, class_name, padded=True, token_types=True, seed=0):
        """A batch of 3 rows of 9 tokens; padded rows hold 9, 6 and 3 real tokens."""
        g = torch.Generator().manual_seed(seed)
        pad = PAD.get(arch, 0)
        input_ids = torch.randint(3, 99, (3, 9), generator=g)
        attention_mask = torch.ones_like(input_ids)
        if padded:
            attention_mask[1, 6:] = 0
            attention_mask[2, 3:] = 0
            input_ids[attention_mask == 0] = pad
        kwargs = dict(input_ids=input_ids, attention_mask=attention_mask)
        if token_types and arch not in NO_TOKEN_TYPES:
            token_type_ids = torch.zeros_like(input_ids)
            token_type_ids[:, 4:] = 1
            kwargs["token_type_ids"] = token_type_ids * attention_mask
        if class_name.endswith("ForMultipleChoice"):  # two choices per example
            kwargs = {k: torch.stack([v, v.roll(1, dims=1)], dim=1) for k, v in kwargs.items()}
        return kwargs

    @staticmethod
    def labels(class_name, seed=1):
        g = torch.Generator().manual_seed(seed)
        if class_name.endswith("ForMaskedLM"):
            labels = torch.randint(0, 99, (3, 9), generator=g)
            labels[:, ::2] = -100
            return dict(labels=labels)
        if class_name.endswith("ForPreTraining"):
            labels = torch.randint(0, 99, (3, 9), generator=g)
            labels[:, 1::3] = -100
            return dict(labels=labels, next_sentence_label=torch.tensor([0, 1, 1]))
        if class_name.endswith("ForNextSentencePrediction"):
            return dict(labels=torch.tensor([1, 0, 1]))
        if class_name.endswith("ForSequenceClassification"):
            return dict(labels=torch.tensor([2, 0, 1]))
        if class_name.endswith("ForTokenClassification"):
            labels = torch.randint(0, 3, (3, 9), generator=g)
            labels[:, 0] = -100
            return dict(labels=labels)
        if class_name.endswith("ForQuestionAnswering"):  # 50 is past the end: clamped and ignored
            return dict(start_positions=torch.tensor([1, 4, 50]), end_positions=torch.tensor([3, 5, 2]))
        if class_name.endswith("ForMultipleChoice"):
            return dict(labels=torch.tensor([1, 0, 1]))
        return {}

    # ---- comparison ---------------------------------------------------------------------------
    @staticmethod
    def assert_outputs_close(ref_out, lean_out, atol=ATOL):
        """Every field the reference returns (a non-empty one) is in ours, with the same numbers."""
        compared = 0
        for key in ref_out.keys():
            expected = ref_out[key]
            if isinstance(expected, tuple) and len(expected) == 0:
                continue  # the reference's empty cross_attentions of an encoder
            assert key in lean_out.keys(), f"missing output field {key!r}"
            got = lean_out[key]
            if isinstance(expected, tuple):
                assert len(got) == len(expected), f"{key}: {len(got)} tensors, reference has {len(expected)}"
                for i, (e, g) in enumerate(zip(expected, got)):
                    torch.testing.assert_close(g, e, atol=atol, rtol=0, msg=lambda m: f"{key}[{i}]: {m}")
            else:
                torch.testing.assert_close(got, expected, atol=atol, rtol=0, msg=lambda m: f"{key}: {m}")
            compared += 1
        assert compared > 0


    @staticmethod
    def assert_same_tensors(a: dict, b: dict):
        """Two state dicts with the same keys and bit-identical tensors."""
        assert sorted(a) == sorted(b)
        for key in a:
            assert a[key].dtype == b[key].dtype, key
            assert torch.equal(a[key], b[key]), key


def _auto_name(head):
    return "AutoModel" if head == "Model" else "AutoModel" + head


def _dropout_free(arch):
    if arch == "distilbert":
        return dict(dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, qa_dropout=0.0)
    return dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _safetensors_keys(folder):
    from safetensors import safe_open

    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return set(json.load(f)["weight_map"])
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as f:
        return set(f.keys())


# =============================================================================================
# the shared tests


@pytest.fixture(autouse=True, scope="module")
def single_thread_for_tiny_models():
    """Tiny matrices gain nothing from threads, and on a busy machine OpenMP's spinning workers make
    each op take milliseconds: run these tests on one thread (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)



def test_config_matches_reference(arch, parity, tmp_path):
    import leanformers

    name = PREFIX[arch] + "Config"
    for kwargs in ({}, TINY[arch], {"num_labels": 5, "problem_type": "regression", "classifier_dropout": 0.3}):
        ref = getattr(parity.T, name)(**kwargs)
        ours = getattr(leanformers, name)(**kwargs)
        expected = ref.to_dict()
        expected.pop("transformers_version")
        assert ours.to_dict() == expected
        assert repr(ours) == repr(ref).replace(f'  "transformers_version": "{parity.T.__version__}",\n', "")
        # config.json written by each side reads back equal on the other
        ours.save_pretrained(tmp_path / "ours")
        back = parity.T.AutoConfig.from_pretrained(tmp_path / "ours").to_dict()
        assert {**back, "_name_or_path": ""} == ref.to_dict()
        ref.save_pretrained(tmp_path / "ref")
        back = leanformers.AutoConfig.from_pretrained(tmp_path / "ref").to_dict()
        assert {**back, "_name_or_path": ""} == ours.to_dict()


def test_outputs_match_reference(arch, head, parity):
    folder = parity.checkpoint(arch, head)
    ref, ours = parity.reference(arch, head, folder), parity.lean(arch, head, folder)
    assert not ours.training
    cases = [parity.inputs(arch, head, padded=False, token_types=False),
             parity.inputs(arch, head, padded=False),
             parity.inputs(arch, head, padded=True)]
    del cases[0]["attention_mask"]  # no mask at all
    for inputs in cases:
        with torch.no_grad():
            expected = ref(**inputs, output_hidden_states=True, output_attentions=True)
            got = ours(**inputs, output_hidden_states=True, output_attentions=True)
            n_layers = ours.config.num_hidden_layers
            assert len(got.hidden_states) == n_layers + 1 and len(got.attentions) == n_layers
            parity.assert_outputs_close(expected, got)
            # plain call: no hidden states / attentions; tuples when return_dict=False
            plain = ours(**inputs)
            assert plain.hidden_states is None and plain.attentions is None
            parity.assert_outputs_close(ref(**inputs), plain)
            expected_tuple, got_tuple = ref(**inputs, return_dict=False), ours(**inputs, return_dict=False)
            assert isinstance(got_tuple, tuple) and len(got_tuple) == len(expected_tuple)
            for e, g in zip(expected_tuple, got_tuple):
                torch.testing.assert_close(g, e, atol=ATOL, rtol=0)


def test_output_flags_from_config(arch, parity):
    folder = parity.checkpoint(arch, "Model")
    ours = parity.lean(arch, "Model", folder, output_hidden_states=True, output_attentions=True)
    out = ours(**parity.inputs(arch, "Model"))
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    out = ours(**parity.inputs(arch, "Model"), output_hidden_states=False, output_attentions=False)
    assert out.hidden_states is None and out.attentions is None


def test_position_ids_and_inputs_embeds_match_reference(arch, parity):
    folder = parity.checkpoint(arch, "Model")
    ref, ours = parity.reference(arch, "Model", folder), parity.lean(arch, "Model", folder)
    inputs = parity.inputs(arch, "Model")
    position_ids = torch.arange(9).flip(0).expand(3, -1) + 2
    embeds = ours.get_input_embeddings()(inputs["input_ids"])
    with torch.no_grad():
        parity.assert_outputs_close(ref(**inputs, position_ids=position_ids),
                                    ours(**inputs, position_ids=position_ids))
        as_embeds = dict(inputs, inputs_embeds=embeds)
        del as_embeds["input_ids"]
        parity.assert_outputs_close(ref(**as_embeds), ours(**as_embeds))


def test_loss_matches_reference(arch, head, parity):
    if head == "Model":
        pytest.skip("the base model has no loss")
    folder = parity.checkpoint(arch, head)
    ref, ours = parity.reference(arch, head, folder), parity.lean(arch, head, folder)
    inputs, labels = parity.inputs(arch, head), parity.labels(head)
    with torch.no_grad():
        expected, got = ref(**inputs, **labels), ours(**inputs, **labels)
    assert got.loss is not None and got.loss.dim() == 0
    torch.testing.assert_close(got.loss, expected.loss, atol=ATOL, rtol=0)
    assert isinstance(ours(**inputs, **labels, return_dict=False)[0], torch.Tensor)  # loss comes first


@pytest.mark.parametrize("num_labels, problem_type, make_labels", [
    (1, None, lambda: torch.tensor([0.5, -1.0, 2.0])),  # inferred: regression
    (3, None, lambda: torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])),  # inferred: multi-label
    (3, "regression", lambda: torch.randn(3, 3, generator=torch.Generator().manual_seed(0))),
    (3, "single_label_classification", lambda: torch.tensor([2, 1, 0])),
    (3, "multi_label_classification", lambda: torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])),
])
def test_sequence_classification_problem_types(arch, parity, num_labels, problem_type, make_labels):
    head = "ForSequenceClassification"
    overrides = {"num_labels": num_labels} if problem_type is None else \
        {"num_labels": num_labels, "problem_type": problem_type}
    folder = parity.checkpoint(arch, head, **overrides)
    ref, ours = parity.reference(arch, head, folder), parity.lean(arch, head, folder)
    inputs, labels = parity.inputs(arch, head), make_labels()
    with torch.no_grad():
        expected, got = ref(**inputs, labels=labels), ours(**inputs, labels=labels)
    torch.testing.assert_close(got.loss, expected.loss, atol=ATOL, rtol=0)
    assert ours.config.problem_type == ref.config.problem_type


def test_padded_batch_rows_equal_rows_alone(arch, parity):
    for head in ("Model", "ForTokenClassification"):
        ours = parity.lean(arch, head, parity.checkpoint(arch, head))
        inputs = parity.inputs(arch, head, padded=True)
        with torch.no_grad():
            batch = ours(**inputs)[0]
            for row, length in enumerate(inputs["attention_mask"].sum(1).tolist()):
                alone = {k: v[row:row + 1, :length] for k, v in inputs.items()}
                torch.testing.assert_close(batch[row:row + 1, :length], ours(**alone)[0], atol=ATOL, rtol=0)


def test_body_loads_from_head_checkpoint(arch, head, parity, caplog):
    if head == "Model":
        pytest.skip("needs a head checkpoint")
    folder = parity.checkpoint(arch, head)
    ref, ref_info = parity.reference(arch, "Model", folder, output_loading_info=True)
    with caplog.at_level(logging.WARNING, logger="leanformers"):
        ours, info = parity.lean(arch, "Model", folder, output_loading_info=True)
    assert sorted(info["missing_keys"]) == sorted(ref_info["missing_keys"])  # e.g. the pooler of a QA head
    ref_state, our_state = ref.state_dict(), ours.state_dict()
    assert sorted(ref_state) == sorted(our_state)
    for key in our_state:
        if key not in info["missing_keys"]:
            assert torch.equal(our_state[key], ref_state[key]), key
    if info["missing_keys"]:
        assert all(k in caplog.text for k in info["missing_keys"])


def test_head_loads_from_body_checkpoint(arch, head, parity, caplog):
    if head == "Model":
        pytest.skip("needs a head")
    folder = parity.checkpoint(arch, "Model")
    ref, ref_info = parity.reference(arch, head, folder, output_loading_info=True)
    with caplog.at_level(logging.WARNING, logger="leanformers"):
        ours, info = parity.lean(arch, head, folder, output_loading_info=True)
    assert info["missing_keys"], "a new head must be reported"
    # the reference also lists tied copies (decoder.bias is cls.predictions.bias): we name each tensor once
    tied = set(ours._tied_weights_keys or {})
    assert sorted(info["missing_keys"]) == sorted(set(ref_info["missing_keys"]) - tied)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("leanformers")]
    assert len(warnings) == 1 and all(k in warnings[0].getMessage() for k in info["missing_keys"])
    # the body is the checkpoint's; the new head follows the reference's init distribution
    ref_state, our_state = ref.state_dict(), ours.state_dict()
    std = ours.config.initializer_range
    for key, value in our_state.items():
        if key not in info["missing_keys"]:
            assert torch.equal(value, ref_state[key]), key
        elif "norm" in key.lower() and key.endswith("weight"):
            assert torch.equal(value, torch.ones_like(value)), key
        elif key.endswith("bias"):
            assert torch.equal(value, torch.zeros_like(value)), key
        else:
            assert abs(value.mean().item()) < 3 * std / value.numel() ** 0.5 + 1e-3, key
            assert 0.6 * std < value.std().item() < 1.4 * std, key
    # tied output embeddings follow the loaded input embeddings
    if ours.get_output_embeddings() is not None:
        assert ours.get_output_embeddings().weight is ours.get_input_embeddings().weight


def test_reference_checkpoint_loads_identically(arch, head, parity):
    folder = parity.checkpoint(arch, head)
    ref = parity.reference(arch, head, folder)
    ours, info = parity.lean(arch, head, folder, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    parity.assert_same_tensors(ours.state_dict(), ref.state_dict())
    # buffers stay out of checkpoints, as the reference keeps them
    assert not any(k.endswith(("position_ids", "token_type_ids")) for k in ours.state_dict())
    assert all(b.device.type == "cpu" for b in ours.buffers())


def test_saved_checkpoint_loads_in_reference(arch, head, parity, tmp_path):
    folder = parity.checkpoint(arch, head)
    ours = parity.lean(arch, head, folder)
    ours.save_pretrained(tmp_path)
    assert _safetensors_keys(tmp_path) == _safetensors_keys(folder)  # the same tensors, tied ones once
    ref, info = parity.reference(arch, head, str(tmp_path), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    parity.assert_same_tensors(ref.state_dict(), ours.state_dict())
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["architectures"] == [PREFIX[arch] + head]
    inputs = parity.inputs(arch, head)
    with torch.no_grad():
        parity.assert_outputs_close(ref(**inputs), ours(**inputs))
    again = parity.lean(arch, head, str(tmp_path))
    parity.assert_same_tensors(again.state_dict(), ours.state_dict())


def test_tied_output_embeddings(arch, parity, tmp_path):
    head = "ForMaskedLM"
    ours = parity.lean(arch, head, parity.checkpoint(arch, head))
    out, inp = ours.get_output_embeddings(), ours.get_input_embeddings()
    assert out.weight is inp.weight
    # a training step moves the shared tensor once
    ours.train()
    loss = ours(**parity.inputs(arch, head), **parity.labels(head)).loss
    loss.backward()
    assert inp.weight.grad is not None and out.weight.grad is inp.weight.grad

    # untied: two tensors, both saved and loaded, as the reference does
    folder = parity.checkpoint(arch, head, tie_word_embeddings=False)
    ref = parity.reference(arch, head, folder)
    untied, info = parity.lean(arch, head, folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert untied.get_output_embeddings().weight is not untied.get_input_embeddings().weight
    parity.assert_same_tensors(untied.state_dict(), ref.state_dict())
    inputs = parity.inputs(arch, head)
    with torch.no_grad():
        parity.assert_outputs_close(ref(**inputs), untied(**inputs))
    untied.save_pretrained(tmp_path)
    assert _safetensors_keys(tmp_path) == _safetensors_keys(folder)


def test_resize_token_embeddings(arch, parity):
    head = "ForMaskedLM"
    folder = parity.checkpoint(arch, head)
    ours, ref = parity.lean(arch, head, folder), parity.reference(arch, head, folder)
    inputs = parity.inputs(arch, head)
    with torch.no_grad():
        before = ours(**inputs).logits
    ours.resize_token_embeddings(120)
    ref.resize_token_embeddings(120)
    assert ours.config.vocab_size == 120
    assert ours.get_input_embeddings().weight.shape == ref.get_input_embeddings().weight.shape
    assert ours.get_output_embeddings().weight is ours.get_input_embeddings().weight
    assert ours.get_output_embeddings().bias.shape == ref.get_output_embeddings().bias.shape
    with torch.no_grad():
        after = ours(**inputs).logits
    assert after.shape[-1] == 120
    torch.testing.assert_close(after[..., :99], before, atol=ATOL, rtol=0)


def test_dtype_float16_and_auto(arch, parity, tmp_path):
    head = "ForSequenceClassification"
    folder = parity.checkpoint(arch, head)
    fp32 = parity.lean(arch, head, folder)
    assert fp32.dtype == torch.float32  # "auto" reads float32 from config.json
    half = parity.lean(arch, head, folder, dtype=torch.float16)
    assert {p.dtype for p in half.parameters()} == {torch.float16}
    inputs = parity.inputs(arch, head)
    with torch.no_grad():
        torch.testing.assert_close(half(**inputs).logits.float(), fp32(**inputs).logits, atol=1e-2, rtol=0)
    # a checkpoint saved in float16 loads in float16 with "auto", and its values are kept exactly
    ref = parity.reference(arch, head, folder).to(torch.float16)
    ref.save_pretrained(tmp_path)
    auto = parity.lean(arch, head, str(tmp_path), dtype="auto")
    assert auto.dtype == torch.float16
    parity.assert_same_tensors(auto.state_dict(), ref.state_dict())
    assert parity.lean(arch, head, str(tmp_path), dtype="float32").dtype == torch.float32


def test_sharded_save_loads_in_reference(arch, parity, tmp_path):
    head = "ForMaskedLM"
    ours = parity.lean(arch, head, parity.checkpoint(arch, head))
    ours.save_pretrained(tmp_path, max_shard_size="10KB")
    shards = [f for f in os.listdir(tmp_path) if f.endswith(".safetensors")]
    assert len(shards) > 1 and (tmp_path / "model.safetensors.index.json").exists()
    ref, info = parity.reference(arch, head, str(tmp_path), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    parity.assert_same_tensors(ref.state_dict(), ours.state_dict())
    parity.assert_same_tensors(parity.lean(arch, head, str(tmp_path)).state_dict(), ours.state_dict())


def test_num_labels_mismatch(arch, parity, caplog):
    head = "ForSequenceClassification"
    folder = parity.checkpoint(arch, head)  # 3 labels
    with pytest.raises(ValueError, match="ignore_mismatched_sizes"):
        parity.lean(arch, head, folder, num_labels=5)
    with caplog.at_level(logging.WARNING, logger="leanformers"):
        ours, info = parity.lean(arch, head, folder, num_labels=5, ignore_mismatched_sizes=True,
                                 output_loading_info=True)
    ref, ref_info = parity.reference(arch, head, folder, num_labels=5, ignore_mismatched_sizes=True,
                                     output_loading_info=True)
    assert sorted(k for k, _, _ in info["mismatched_keys"]) == sorted(k for k, *_ in ref_info["mismatched_keys"])
    assert all(k in caplog.text for k, _, _ in info["mismatched_keys"])
    inputs = parity.inputs(arch, head)
    assert ours(**inputs).logits.shape == (3, 5)


def test_auto_classes_pick_the_model_class(arch, head, parity):
    import leanformers

    folder = parity.checkpoint(arch, head)
    auto = _auto_name(head)
    model = getattr(leanformers, auto).from_pretrained(folder)
    assert type(model).__name__ == PREFIX[arch] + head
    assert type(getattr(parity.T, auto).from_pretrained(folder)).__name__ == type(model).__name__
    config = leanformers.AutoConfig.from_pretrained(folder)
    assert type(getattr(leanformers, auto).from_config(config)).__name__ == PREFIX[arch] + head


def test_clear_input_errors(arch, parity):
    ours = parity.lean(arch, "Model", parity.checkpoint(arch, "Model"))
    with pytest.raises(ValueError, match="batch dimension"):
        ours(torch.tensor([5, 6, 7]))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        ours(torch.full((1, 80), 5))
    with pytest.raises(ValueError, match="attention_mask"):
        ours(torch.full((2, 4), 5), attention_mask=torch.ones(2, 5, dtype=torch.long))
    mc = parity.lean(arch, "ForMultipleChoice", parity.checkpoint(arch, "ForMultipleChoice"))
    with pytest.raises(ValueError, match="num_choices"):
        mc(torch.full((2, 4), 5))


def test_training_matches_reference(arch, parity):
    """Without dropout, loss and every gradient equal the reference's; with it, training is random."""
    head = "ForSequenceClassification"
    folder = parity.checkpoint(arch, head)
    ref = parity.reference(arch, head, folder, **_dropout_free(arch)).train()
    ours = parity.lean(arch, head, folder, **_dropout_free(arch)).train()
    inputs, labels = parity.inputs(arch, head), parity.labels(head)
    ref(**inputs, **labels).loss.backward()
    ours(**inputs, **labels).loss.backward()
    ref_params = dict(ref.named_parameters())
    for name, param in ours.named_parameters():
        torch.testing.assert_close(param.grad, ref_params[name].grad, atol=ATOL, rtol=0, msg=name)
    # gradient checkpointing recomputes activations: the same gradients
    checkpointed = parity.lean(arch, head, folder, **_dropout_free(arch)).train()
    checkpointed.gradient_checkpointing_enable()
    import torch.utils.checkpoint as ckpt
    from unittest import mock

    with mock.patch.object(ckpt, "checkpoint", wraps=ckpt.checkpoint) as spy:
        checkpointed(**inputs, **labels).loss.backward()
    assert spy.call_count == checkpointed.config.num_hidden_layers
    for name, param in checkpointed.named_parameters():
        torch.testing.assert_close(param.grad, ref_params[name].grad, atol=ATOL, rtol=0, msg=name)
    dropping = parity.lean(arch, head, folder).train()
    torch.manual_seed(0)
    first = dropping(**inputs).logits
    assert not torch.equal(first, dropping(**inputs).logits)
    dropping.eval()
    assert torch.equal(dropping(**inputs).logits, dropping(**inputs).logits)


def test_head_dropout_matches_reference(arch, head, parity):
    """Head dropouts (classifier_dropout and its fallbacks) have the reference's probabilities."""
    import leanformers
    from torch import nn

    body_parts = ("embeddings", "encoder", "transformer", "attention")
    for overrides in ({}, {"classifier_dropout": 0.3}, {"hidden_dropout_prob": 0.05, "dropout": 0.07}):
        if arch == "distilbert" and "classifier_dropout" in overrides:
            continue
        if arch == "distilbert":
            overrides = {k: v for k, v in overrides.items() if k != "hidden_dropout_prob"}
        else:
            overrides = {k: v for k, v in overrides.items() if k != "dropout"}
        kwargs = parity.config_kwargs(arch, head, **overrides)
        ref = getattr(parity.T, PREFIX[arch] + head)(getattr(parity.T, PREFIX[arch] + "Config")(**kwargs))
        ours = getattr(leanformers, PREFIX[arch] + head)(getattr(leanformers, PREFIX[arch] + "Config")(**kwargs))

        def head_dropouts(model):
            return {name: m.p for name, m in model.named_modules()
                    if isinstance(m, nn.Dropout) and not any(p in name for p in body_parts)}

        assert head_dropouts(ours) == head_dropouts(ref)
        # a fresh model is initialised like the reference's (same parameter names and shapes)
        assert {k: v.shape for k, v in ours.state_dict().items()} == \
            {k: v.shape for k, v in ref.state_dict().items()}
