"""dtype spellings, and weight-only quantization (int8 / int4 / a GGUF file's own blocks).

Quantized numbers differ from the float model's by design; the tests check that the kernels compute
what the packed bytes mean (x @ dequant(W).T, to bf16 rounding), that the model keeps close to the
float model, that GGUF's 4-bit values are kept (not requantized), and the clear errors.
"""

import pytest
import torch
from torch import nn

import leanformers
from leanformers.quantization import QuantizedEmbedding, QuantizedLinear, quantize_weight

transformers = pytest.importorskip("transformers")

TINY = dict(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(transformers.LlamaConfig(**TINY)).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("spelling,expected", [
    (torch.bfloat16, torch.bfloat16), ("bfloat16", torch.bfloat16), ("bf16", torch.bfloat16),
    ("torch.bfloat16", torch.bfloat16), ("float16", torch.float16), ("fp16", torch.float16),
    ("float32", torch.float32), ("fp32", torch.float32), ("auto", torch.float32)])
def test_each_dtype_spelling_gives_the_same_dtype(tiny_llama, spelling, expected):
    model = leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=spelling)
    assert model.dtype == expected
    assert model.model.layers[0].mlp.up_proj.weight.dtype == expected


def test_a_wrong_dtype_is_a_clear_error(tiny_llama):
    with pytest.raises(ValueError, match=r"dtype='bf61' is not a dtype.*bf16.*bfloat16"):
        leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama, dtype="bf61")


def _dequantized(layer: QuantizedLinear) -> torch.Tensor:
    """W as the kernel sees it: the layer applied to the identity (bf16 rows of one 1 each)."""
    eye = torch.eye(layer.in_features)
    return layer(eye).t()


@pytest.mark.parametrize("kind", ["int8", "int4"])
def test_quantized_linear_computes_x_times_its_dequantized_weight(kind):
    torch.manual_seed(0)
    w, b = torch.randn(64, 96) * 0.05, torch.randn(64)
    got_kind, qweight, scales = quantize_weight(w, kind)
    assert got_kind == kind
    layer = QuantizedLinear(kind, 96, 64, qweight, scales, b)
    ref = _dequantized(QuantizedLinear(kind, 96, 64, qweight, scales)).float()
    # the weight it holds is the float weight to within one quantization step
    step = (w.abs().amax(1, keepdim=True) / 127) if kind == "int8" else (w.amax() - w.amin()) / 15
    assert (ref - w).abs().max() <= step.max() * 0.51 + 1e-3
    x = torch.randn(3, 5, 96)
    expected = x.bfloat16().float() @ ref.t() + b
    torch.testing.assert_close(layer(x), expected, atol=2e-2, rtol=1e-2)
    assert layer(x).dtype == torch.float32 and layer(x.bfloat16()).dtype == torch.bfloat16


def test_int4_falls_back_to_int8_where_the_kernel_cannot_take_the_shape():
    assert quantize_weight(torch.randn(10, 64), "int4")[0] == "int8"  # out_features not a multiple of 16
    assert quantize_weight(torch.randn(16, 40), "int4")[0] == "int8"  # in_features not a multiple of 32


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_quantized_model_stays_close_to_the_float_model_and_generates(tiny_llama, method):
    ref = leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama)
    model = leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama, quantization=method)
    layers = [m for m in model.modules() if isinstance(m, QuantizedLinear)]
    assert len(layers) == 2 * 7 + 1  # every projection and the LM head
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    ids = torch.randint(0, 128, (2, 12))
    with torch.no_grad():
        a, b = ref(ids).logits, model(ids).logits
    assert (a - b).norm() < {"int8": 0.05, "int4": 0.25}[method] * a.norm()
    out = model.generate(ids[:1, :4], max_new_tokens=5, do_sample=False)
    assert out.shape == (1, 9)
    embed = model.model.embed_tokens  # int8 rows, one scale per row
    assert isinstance(embed, QuantizedEmbedding) and embed.qweight.dtype == torch.int8
    want = ref.model.embed_tokens(ids)
    assert (embed(ids) - want).abs().max() <= want.abs().max() / 127


def test_tied_lm_head_and_embedding_share_one_int8_matrix(tmp_path):
    pytest.importorskip("gguf")
    from test_gguf import write_tiny_gguf

    write_tiny_gguf(tmp_path / "tied.gguf", "llama", tie=True)  # token_embd is Q8_0, no output.weight
    model = leanformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tied.gguf", quantization="gguf")
    assert model.lm_head.kind == "int8" and model.lm_head.source == "Q8_0"
    assert model.lm_head.qweight is model.model.embed_tokens.qweight


def test_fused_group_equals_each_layer_and_keeps_one_copy(tiny_llama):
    from leanformers.projections import project

    model = leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama, quantization="int4")
    mlp = model.model.layers[0].mlp
    x = torch.randn(1, 3, 64)
    with torch.no_grad():
        alone = (mlp.gate_proj(x), mlp.up_proj(x))
        gate, up = project(x, mlp.gate_proj, mlp.up_proj)
    fused = mlp.gate_proj.__dict__["_fused_group"][1]
    assert fused is not None
    # the layers now view the fused rows: no second copy of the packed weights
    assert mlp.gate_proj.qweight.data_ptr() == fused.qweight.data_ptr()
    assert mlp.up_proj.qweight.untyped_storage().data_ptr() == fused.qweight.untyped_storage().data_ptr()
    torch.testing.assert_close(gate, alone[0], atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(up, alone[1], atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(mlp.up_proj(x), alone[1])  # the viewed layer alone still computes


def test_quantization_errors(tiny_llama, tmp_path):
    with pytest.raises(ValueError, match="quantization='int3' is not supported: use 'int8' or 'int4'"):
        leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama, quantization="int3")
    with pytest.raises(ValueError, match="quantization='gguf' keeps the quantization of a GGUF file: pass gguf_file"):
        leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama, quantization="gguf")
    model = leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama, quantization="int8")
    with pytest.raises(NotImplementedError, match="save the original float model"):
        model.save_pretrained(tmp_path / "q")


def test_gguf_quantization_keeps_the_files_4bit_values(tmp_path):
    pytest.importorskip("gguf")
    from test_gguf import write_tiny_gguf  # tests/ is on sys.path (no __init__.py)

    write_tiny_gguf(tmp_path / "t.gguf", "llama")  # attn_k Q4_0, attn_output Q4_1, Q8_0/Q5_x, ffn_up F16
    ref = leanformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="t.gguf")  # dequantised fp32
    model = leanformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="t.gguf", quantization="gguf")
    attn, mlp = model.model.layers[0].self_attn, model.model.layers[0].mlp
    assert (attn.k_proj.kind, attn.k_proj.source) == ("int4", "Q4_0")
    assert (attn.o_proj.kind, attn.o_proj.source) == ("int4", "Q4_1")
    assert (attn.q_proj.kind, attn.q_proj.source) == ("int8", "Q8_0")
    assert isinstance(mlp.up_proj, nn.Linear)  # F16 in the file: kept float
    for name in ("k_proj", "o_proj"):  # same 4-bit levels; only the scales are rounded to bf16
        want = getattr(ref.model.layers[0].self_attn, name).weight
        got = _dequantized(getattr(attn, name)).float()
        assert (got - want).abs().max() <= 2 ** -7 * want.abs().max()
    ids = torch.randint(0, 64, (1, 10))
    with torch.no_grad():
        a, b = ref(ids).logits, model(ids).logits
    assert (a - b).norm() < 0.1 * a.norm()


def test_pipeline_passes_quantization_and_dtype_strings(tmp_path):
    pytest.importorskip("gguf")
    from test_gguf import write_tiny_gguf

    write_tiny_gguf(tmp_path / "t.gguf", "llama")
    pipe = leanformers.pipeline("text-generation", model=str(tmp_path / "t.gguf"), quantization="int4", dtype="bf16")
    assert pipe.model.dtype == torch.bfloat16 and pipe.model.quantization == "int4"
    assert isinstance(pipe.model.model.layers[0].mlp.down_proj, QuantizedLinear)
    out = pipe("a b", max_new_tokens=3, do_sample=False)
    assert isinstance(out[0]["generated_text"], str)


def test_cli_run_takes_quantization_and_dtype(tmp_path):
    import json
    import os
    import subprocess
    import sys

    pytest.importorskip("gguf")
    from test_gguf import write_tiny_gguf

    write_tiny_gguf(tmp_path / "t.gguf", "llama")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": repo, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "leanformers", "run", "text-generation", "a b", "--model",
                               str(tmp_path / "t.gguf"), "--no-chat", "-p", "max_new_tokens=3", *args],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=120)

    expected = leanformers.pipeline("text-generation", model=str(tmp_path / "t.gguf"), quantization="gguf",
                                    dtype="bf16")("a b", max_new_tokens=3, do_sample=False)
    out = cli("--quantization", "gguf", "--dtype", "bf16")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [expected]
    bad = cli("--quantization", "int3")
    assert bad.returncode != 0 and "invalid choice: 'int3'" in bad.stderr
    bad = cli("--dtype", "bf61")
    assert bad.returncode != 0 and "dtype='bf61' is not a dtype" in bad.stderr


def _open_maps_of(size: int) -> int:
    import gc
    import mmap

    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is mmap.mmap and not o.closed and len(o) == size)


@pytest.mark.parametrize("quantization", [None, "gguf"])
def test_a_loaded_gguf_model_does_not_keep_the_file_mapped(tmp_path, quantization):
    """Norms are F32 in a quantized file: viewed in place they pinned the whole file's map (its size in
    RSS for as long as the model lived); the tokenizer's and the loader's cached parse did too."""
    pytest.importorskip("gguf")
    import os

    from test_gguf import write_tiny_gguf

    write_tiny_gguf(tmp_path / "t.gguf", "llama")
    size = os.path.getsize(tmp_path / "t.gguf")
    tok = leanformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="t.gguf")
    model = leanformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="t.gguf", quantization=quantization)
    assert _open_maps_of(size) == 0
    assert tok("hello").input_ids and model(torch.tensor([[1, 2, 3]])).logits.shape[-1] == model.config.vocab_size


def test_gguf_quantization_packs_the_file_blocks_without_dequantising_them(tmp_path, monkeypatch):
    """quantization="gguf" reads the 4-bit blocks straight into the packed layout: the matrices are not
    dequantised to float32 first (that was a float copy of the whole model at load time)."""
    pytest.importorskip("gguf")
    from test_gguf import write_tiny_gguf

    from leanformers.gguf import dequantize as dq

    write_tiny_gguf(tmp_path / "t.gguf", "llama")
    plain = leanformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="t.gguf")
    seen = []
    real = dq.dequantize
    monkeypatch.setattr(dq, "dequantize", lambda raw, type_name, shape, name="": (seen.append((name, type_name)),
                                                                                 real(raw, type_name, shape, name))[1])
    model = leanformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="t.gguf", quantization="gguf")
    dequantised_q4 = [n for n, t in seen if t.startswith("Q4")]
    assert dequantised_q4 == []  # the Q4_0 / Q4_1 matrices went to the int4 kernel's layout as they are
    assert model.model.layers[0].self_attn.k_proj.kind == "int4"
    ids = torch.randint(0, 64, (1, 10))
    with torch.no_grad():
        a, b = plain(ids).logits, model(ids).logits
    assert (a - b).norm() < 0.1 * a.norm()


def test_gguf_quantization_of_a_base_model_quantizes_its_layers(tmp_path):
    """AutoModel of a causal-LM file names its layers without the "model." prefix the file's keys have."""
    pytest.importorskip("gguf")
    from test_gguf import write_tiny_gguf

    write_tiny_gguf(tmp_path / "t.gguf", "llama")
    model = leanformers.AutoModel.from_pretrained(tmp_path, gguf_file="t.gguf", quantization="gguf")
    assert type(model).__name__ == "LlamaModel"
    assert model.layers[0].self_attn.k_proj.kind == "int4"
    assert model(torch.tensor([[1, 2, 3]])).last_hidden_state.isfinite().all()


def test_the_heap_freed_by_fusing_is_returned_once(tiny_llama, monkeypatch):
    """Fusing q/k/v and gate/up at the first generate() frees each layer's own packed tensors; glibc
    kept that heap (SmolLM2: +40 MiB of RSS for the life of the process) until it is trimmed, once."""
    from leanformers import quantization

    calls = []
    monkeypatch.setattr(quantization, "return_freed_memory", lambda: calls.append(1))
    model = leanformers.AutoModelForCausalLM.from_pretrained(tiny_llama, quantization="int8")
    calls.clear()
    ids = torch.tensor([[1, 2, 3, 4]])
    model.generate(ids, max_new_tokens=3, do_sample=False)
    assert len(calls) == 1  # the first call fused the groups
    model.generate(ids, max_new_tokens=3, do_sample=False)
    assert len(calls) == 1  # nothing fused since: no trim
