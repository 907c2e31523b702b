"""Every file in leanformers/models/ is a whole model type: its classes import from `leanformers`, the
Auto classes reach each head, gradient checkpointing works on it, and decoders decode through the fast
projections (leanformers/projections.py). Nothing here names a model: a new file is checked as it lands."""

import os

import pytest

torch = pytest.importorskip("torch")

import leanformers  # noqa: E402
from leanformers import auto  # noqa: E402

MODELS_DIR = os.path.join(os.path.dirname(leanformers.__file__), "models")
MODEL_TYPES = sorted(f[:-3] for f in os.listdir(MODELS_DIR) if f.endswith(".py") and not f.startswith("_"))
# task -> the Auto class serving it, as auto.py defines them
AUTO_CLASSES = {cls.task: cls for cls in vars(auto).values()
                if isinstance(cls, type) and issubclass(cls, auto._AutoModel) and cls is not auto._AutoModel}
# Config fields that size a model, whatever the family calls them: set to tiny values where the
# config has the field (head counts and widths chosen to fit every family's constraints).
TINY = {
    "vocab_size": 99, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 64, "n_embd": 32, "n_layer": 2, "n_head": 4,
    "n_positions": 64, "n_inner": 64, "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64,
    "num_local_experts": 4, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
    "embedding_size": 16, "type_vocab_size": 2, "pad_token_id": 0, "d_model": 32, "d_ff": 64, "d_kv": 8,
    "num_layers": 2, "num_decoder_layers": 2, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
    "decoder_attention_heads": 4, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
}


def tiny_config(model_type, **overrides):
    config_class = auto._config_class_for(model_type)
    defaults = config_class().to_dict()
    return config_class(**{k: v for k, v in TINY.items() if k in defaults}, **overrides)


def tasks(model_type):
    return auto.model_module(model_type).TASKS


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_classes_are_public_and_reached_by_auto_classes(model_type):
    module = auto.model_module(model_type)
    config_class = auto._config_class_for(model_type)
    assert config_class.model_type.replace("-", "_") == model_type  # the file is named after its type
    assert getattr(leanformers, config_class.__name__) is config_class
    assert tasks(model_type), f"models/{model_type}.py declares no TASKS"
    config = config_class()
    for task, cls in tasks(model_type).items():
        assert cls.__module__ == module.__name__
        assert getattr(leanformers, cls.__name__) is cls, cls.__name__
        if task not in AUTO_CLASSES:  # a class the reference has no Auto class for either (T5EncoderModel)
            continue
        assert getattr(leanformers, AUTO_CLASSES[task].__name__) is AUTO_CLASSES[task]
        assert AUTO_CLASSES[task].model_class(config) is cls


def _head(model_type):
    found = tasks(model_type)
    return found.get("causal-lm") or found.get("masked-lm") or found["base"]


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_gradient_checkpointing_gives_the_same_gradients(model_type, monkeypatch):
    from torch.utils import checkpoint as checkpointing

    from leanformers.layers import GradientCheckpointingLayer

    torch.manual_seed(0)
    config = tiny_config(model_type)
    model = _head(model_type)(config).train()
    ids = torch.randint(3, 99, (2, 7))

    import inspect

    # encoder-decoders: the same ids on the decoder side
    extra = {"decoder_input_ids": ids} if "decoder_input_ids" in inspect.signature(model.forward).parameters else {}

    def gradients():
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout masks in both runs
        out = model(ids, **extra)
        logits = out.logits if hasattr(out, "logits") else out.last_hidden_state
        (logits.float() ** 2).mean().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    # the layer modules checkpointing must wrap: the GradientCheckpointingLayer blocks, or (files with their own
    # loop) the blocks of the layer lists held by modules with a gradient_checkpointing switch
    blocks = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)] or [
        block for m in model.modules() if hasattr(m, "gradient_checkpointing")
        for child in m.children() if isinstance(child, torch.nn.ModuleList) for block in child]
    layer_calls = []  # one checkpointed call per layer *call*: ALBERT runs one shared group for many layers
    hooks = [block.register_forward_pre_hook(lambda *_: layer_calls.append(1)) for block in blocks]
    plain = gradients()
    for hook in hooks:
        hook.remove()
    calls = []
    original = checkpointing.checkpoint

    def counting(fn, *args, **kwargs):
        calls.append(fn)
        return original(fn, *args, **kwargs)

    monkeypatch.setattr(checkpointing, "checkpoint", counting)
    model.gradient_checkpointing_enable()
    checkpointed = gradients()
    assert blocks and len(calls) == len(layer_calls), f"{len(calls)} checkpointed calls for {len(layer_calls)} layer calls"
    assert plain.keys() == checkpointed.keys() and plain
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=0, atol=1e-6, msg=name)
    model.gradient_checkpointing_disable()
    calls.clear()
    gradients()
    assert not calls
    if any(isinstance(m, GradientCheckpointingLayer) for m in model.modules()):
        with torch.no_grad():  # no autograd, nothing to save: the layers run plainly
            model.gradient_checkpointing_enable()
            model(ids, **extra)
        assert not calls


@pytest.mark.parametrize("model_type", [t for t in MODEL_TYPES if "causal-lm" in tasks(t)])
def test_decoding_steps_take_the_fast_projections(model_type, monkeypatch):
    """While generate() decodes, every matrix of the model is applied through projections.project(), the
    one place that fuses quantized q/k/v and gate/up layers into one kernel call (float layers run as
    they are there): no module with a weight matrix is called on its own."""
    from leanformers.quantization import QuantizedLinear  # noqa: F401  (project() needs it for quantized groups)

    torch.manual_seed(0)
    model = tasks(model_type)["causal-lm"](tiny_config(model_type)).eval()
    module = auto.model_module(model_type)
    inside = []
    original = module.project

    def tracked(x, *modules, **kwargs):
        inside.append(True)
        try:
            return original(x, *modules, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(module, "project", tracked)
    slow = []

    def hook(mod, args, output):
        if not inside:
            slow.append(name_of[mod])

    name_of = {}
    for name, mod in model.named_modules():
        weight = getattr(mod, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() == 2 and not isinstance(mod, torch.nn.Embedding):
            name_of[mod] = name
            mod.register_forward_hook(hook)
    ids = torch.randint(3, 99, (1, 5))
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False,
                             pad_token_id=0, eos_token_id=None)
    assert out.shape == (1, 8)
    assert name_of and not slow, f"called outside project() while decoding: {sorted(set(slow))}"


def test_gguf_architectures_come_from_the_model_files():
    from leanformers import gguf

    declared = gguf._architectures()
    assert {"llama", "mistral", "qwen2"} <= set(declared)
    for arch, (model_type, options) in declared.items():
        assert model_type in MODEL_TYPES and isinstance(options, dict)
        assert auto.model_module(model_type).GGUF_ARCHITECTURES[arch] == options
