"""GGUF (llama.cpp) files -> a config dict, a state dict in Hugging Face key names, and a tokenizer.

``from_pretrained(dir, gguf_file=...)`` and ``AutoTokenizer.from_pretrained(dir, gguf_file=...)``
call the three functions below. Architectures: those the model files declare in
``GGUF_ARCHITECTURES`` (``llama``, also Mistral-style files, which llama.cpp writes as llama;
``mistral``; ``qwen2``; ``qwen3``; ``qwen3moe``; ``gemma2``; ``gemma3``; ``phi3``).

- The config maps llama.cpp's metadata keys (``llama.block_count``, ...) onto config.json fields.
- The state dict is dequantised to float32 (the caller casts to the requested dtype). llama.cpp's
  converter permuted the rows of the llama Q and K projections (its RoPE pairs neighbouring values,
  Hugging Face's pairs the two halves of a head); the permutation is undone on the raw quantised
  rows, before dequantising, where it is cheapest.
- The tokenizer is rebuilt as a tokenizer.json dict (see ``tokenizer.py``).
"""

from __future__ import annotations

import logging
import os
import re

from .reader import GGML_TYPES, CorruptGGUFError, GGUFFile, forget_gguf, read_gguf

__all__ = ["gguf_config_dict", "gguf_state_dict", "gguf_raw_weights", "gguf_tokenizer", "gguf_tokenizer_json", "CorruptGGUFError",
           "GGUFFile", "read_gguf", "forget_gguf"]

logger = logging.getLogger("leanformers")

_ARCHITECTURES: dict[str, tuple[str, dict]] | None = None  # filled on first use
_SMALL_VIEW = 1 << 20  # float tensors below this size are copied out of the file's map, larger ones viewed


def _architectures() -> dict[str, tuple[str, dict]]:
    """GGUF architecture (``general.architecture``) -> (model_type, options), from what each model
    file declares: ``models/llama.py`` holds ``GGUF_ARCHITECTURES = {"llama": {"permuted_qk": True}}``.

    Options: ``permuted_qk``, llama.cpp's converter permuted the Q/K rows (and its
    ``rope.dimension_count`` is the head size); ``tensor_names``, per-layer llama.cpp names -> module
    paths beside (or instead of) the llama ones below (a path with ``{}`` names a tensor stacking
    every expert's matrix, split into one per expert); ``norm_minus_one``, the converter stored the
    norm weights plus one (Gemma's ``(1 + w)`` norms); ``config_keys``, more ``<arch>.<key>`` metadata ->
    config.json fields; ``config_defaults``, fields the file implies without stating them. The files are
    read as text, not imported (no torch for a config), and only once.
    """
    global _ARCHITECTURES
    if _ARCHITECTURES is None:
        import ast

        folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")
        found = {}
        for filename in sorted(os.listdir(folder)):
            if not filename.endswith(".py") or filename.startswith("_"):
                continue
            with open(os.path.join(folder, filename), encoding="utf-8") as f:
                text = f.read()
            if "GGUF_ARCHITECTURES" not in text:
                continue
            for node in ast.parse(text).body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "GGUF_ARCHITECTURES"
                                                        for t in node.targets):
                    for arch, options in ast.literal_eval(node.value).items():
                        found.setdefault(arch, (filename[:-3], options))
        _ARCHITECTURES = found
    return _ARCHITECTURES

# "<arch>.<key>" -> config.json field
_CONFIG_KEYS = {
    "context_length": "max_position_embeddings",
    "block_count": "num_hidden_layers",
    "feed_forward_length": "intermediate_size",
    "embedding_length": "hidden_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "vocab_size": "vocab_size",
}
_TOKEN_ID_KEYS = {
    "bos_token_id": "tokenizer.ggml.bos_token_id",
    "eos_token_id": "tokenizer.ggml.eos_token_id",
    "pad_token_id": "tokenizer.ggml.padding_token_id",
    "unk_token_id": "tokenizer.ggml.unknown_token_id",
}

# llama.cpp tensor names -> Hugging Face names (N = layer index)
_TOP_LEVEL = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_PER_LAYER = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_LAYER_NAME = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$")


def _model_type(gguf: GGUFFile) -> str:
    return _architecture(gguf)[0]


def _architecture(gguf: GGUFFile) -> tuple[str, dict]:
    arch = gguf.architecture
    known = _architectures()
    if arch not in known:
        raise ValueError(
            f"{gguf.path} holds a {arch!r} model; leanformers loads GGUF files of the architectures "
            f"{sorted(known)}. Use the model's safetensors checkpoint instead.")
    return known[arch]


def gguf_config_dict(path: str | os.PathLike) -> dict:
    """A config.json-like dict (with ``model_type``) from the file's metadata."""
    gguf = read_gguf(path, keep_arrays=set())
    meta = gguf.metadata
    arch = gguf.architecture
    config = {"model_type": _model_type(gguf)}
    for key, field in {**_CONFIG_KEYS, **_architecture(gguf)[1].get("config_keys", {})}.items():
        value = meta.get(f"{arch}.{key}")
        if value is not None:
            config[field] = value
    missing = [f"{arch}.{k}" for k in ("block_count", "embedding_length", "attention.head_count")
               if f"{arch}.{k}" not in meta]
    if missing:
        raise CorruptGGUFError(f"{gguf.path} lacks the metadata {missing} needed to build the model config.")
    if "vocab_size" not in config:
        tokens = meta.get("tokenizer.ggml.tokens")  # stored as its length by keep_arrays=set()
        if tokens is not None:
            config["vocab_size"] = tokens if isinstance(tokens, int) else len(tokens)
        elif "token_embd.weight" in gguf.tensors:
            config["vocab_size"] = gguf.tensors["token_embd.weight"].shape[0]
    # head size: the rotary width for llama-style files, else the key length, else hidden / heads
    head_dim = meta.get(f"{arch}.rope.dimension_count") if _architecture(gguf)[1].get("permuted_qk") else None
    head_dim = head_dim or meta.get(f"{arch}.attention.key_length")
    if head_dim:
        config["head_dim"] = head_dim
    config["rope_parameters"] = _rope_parameters(meta, arch)
    for field, key in _TOKEN_ID_KEYS.items():
        if key in meta:
            config[field] = meta[key]
    # llama.cpp writes output.weight only when the LM head is not the embedding matrix
    config["tie_word_embeddings"] = "output.weight" not in gguf.tensors
    for field, value in _architecture(gguf)[1].get("config_defaults", {}).items():
        config.setdefault(field, value)
    if "blk.0.attn_q.bias" in gguf.tensors:
        config["attention_bias"] = True
    return config


def _rope_parameters(meta: dict, arch: str) -> dict:
    params = {"rope_type": "default", "rope_theta": float(meta.get(f"{arch}.rope.freq_base", 10000.0))}
    scaling = meta.get(f"{arch}.rope.scaling.type")
    factor = meta.get(f"{arch}.rope.scaling.factor")
    if scaling == "linear" and factor:
        params.update(rope_type="linear", factor=float(factor))
    elif scaling not in (None, "none", "linear"):
        logger.warning(f"GGUF rope scaling {scaling!r} is not supported by leanformers' {arch} model; "
                       f"positions beyond the trained context will differ from llama.cpp.")
    return params


def _hf_name(name: str, per_layer: dict) -> str | None:
    if name in _TOP_LEVEL:
        return _TOP_LEVEL[name]
    m = _LAYER_NAME.match(name)
    if m and m.group(2) in per_layer:
        return f"model.layers.{m.group(1)}.{per_layer[m.group(2)]}.{m.group(3)}"
    return None


def _unpermute_rows(rows, n_heads: int):
    """Undo llama.cpp's ``permute``: within each head it stored the rotary pairs interleaved
    (rows 0,2,4,.. then 1,3,5,..  of the half-split layout); put the halves back."""
    import torch

    total = rows.shape[0]
    half = total // n_heads // 2
    order = torch.arange(total).reshape(n_heads, half, 2).transpose(1, 2).reshape(-1)
    return rows.index_select(0, order)


def _tensor_jobs(gguf) -> tuple[dict, list]:
    """{hf_name: (gguf name, tensor info, heads to un-permute or None)} and the names with no place."""
    arch = gguf.architecture
    options = _architecture(gguf)[1]
    permuted_qk = options.get("permuted_qk", False)
    per_layer = {**_PER_LAYER, **options.get("tensor_names", {})}
    meta = gguf.metadata
    n_heads = meta.get(f"{arch}.attention.head_count")
    n_kv_heads = meta.get(f"{arch}.attention.head_count_kv", n_heads)
    jobs, skipped = {}, []
    for name, info in gguf.tensors.items():
        hf_name = _hf_name(name, per_layer)
        if hf_name is None:
            skipped.append(name)
            continue
        if info.ggml_type not in GGML_TYPES:
            raise NotImplementedError(f"Tensor {name!r} in {gguf.path} has an unknown ggml type "
                                      f"{info.ggml_type}; the file may be newer than leanformers.")
        heads = None
        if permuted_qk and n_heads and (".attn_q." in name or ".attn_k." in name):
            heads = n_heads if ".attn_q." in name else n_kv_heads
        jobs[hf_name] = (name, info, heads)
    return jobs, skipped


def _raw_rows(gguf, job):
    """A tensor's raw bytes (uint8, flat) with llama.cpp's Q/K row permutation undone."""
    import torch

    name, info, heads = job
    raw = torch.from_numpy(gguf.raw_bytes(name))
    if heads:
        raw = _unpermute_rows(raw.reshape(info.shape[0], -1), heads).reshape(-1)
    return raw


def gguf_state_dict(path: str | os.PathLike, packed: bool = False) -> dict:
    """The file's tensors in Hugging Face names, dequantised to float32 ``torch.Tensor``s.

    ``packed=True`` (``quantization="gguf"``): the block-quantized matrices, which the loader packs
    straight from the file's bytes (:func:`gguf_raw_weights`), come back as float32 tensors on the
    meta device (shape only, no memory) instead of being dequantised; the token embedding is
    dequantised all the same (it is an embedding table, not a matrix product).
    """
    import torch

    from .dequantize import _PLAIN_TYPES, dequantize

    gguf = read_gguf(path, keep_arrays=set())
    jobs, skipped = _tensor_jobs(gguf)
    norm_minus_one = _architecture(gguf)[1].get("norm_minus_one", False)
    placeholders = {}
    if packed:
        placeholders = {hf: torch.empty(tuple(job[1].shape), dtype=torch.float32, device="meta")
                        for hf, job in jobs.items()
                        if len(job[1].shape) == 2 and "{}" not in hf and job[0] != "token_embd.weight"
                        and job[1].type_name not in _PLAIN_TYPES}
        jobs = {hf: job for hf, job in jobs.items() if hf not in placeholders}

    def load(job):
        raw = _raw_rows(gguf, job)
        tensor = dequantize(raw, job[1].type_name, job[1].shape, job[0])
        if norm_minus_one and job[0].endswith("norm.weight"):
            tensor = tensor - 1  # stored as 1 + w for the model's (1 + w) norms
        elif tensor.numel() * tensor.element_size() < _SMALL_VIEW and \
                tensor.untyped_storage().data_ptr() == raw.untyped_storage().data_ptr():
            tensor = tensor.clone()  # a small view of the map (a norm) would keep the whole file resident
        return tensor

    state = _run_in_threads(load, jobs, f"Dequantising {os.path.basename(gguf.path)}")
    state.update(placeholders)
    for key in [k for k in state if "{}" in k]:  # (experts, out, in) stacks: one matrix per expert
        for expert, matrix in enumerate(state.pop(key).unbind(0)):
            state[key.format(expert)] = matrix
    if skipped:
        logger.info(f"Tensors of {gguf.path} with no place in the model, not loaded: {skipped}")
    return state


def gguf_raw_weights(path: str | os.PathLike) -> dict:
    """{hf_name: (ggml type name, raw bytes as a flat uint8 tensor, shape)} of the file's 2-D tensors,
    Q/K rows already in Hugging Face's order: what ``quantization="gguf"`` packs for the kernels."""
    gguf = read_gguf(path, keep_arrays=set())
    jobs, _ = _tensor_jobs(gguf)
    return {hf: (job[1].type_name, _raw_rows(gguf, job), tuple(job[1].shape))
            for hf, job in jobs.items() if len(job[1].shape) == 2}


def _run_in_threads(fn, jobs: dict, description: str) -> dict:
    """``{key: fn(job)}``, one tensor per thread at a time, torch itself single-threaded meanwhile,
    with a progress bar when it takes more than a second.

    Dequantising works in small cache-sized chunks; torch's own thread pool costs more than it
    gains on such chunks (and spins badly when the cores are shared), while tensors decoded side
    by side in Python threads scale (torch releases the GIL).
    """
    import torch
    from concurrent.futures import ThreadPoolExecutor

    from ..logging import tqdm

    workers = max(1, min(len(jobs), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                         else (os.cpu_count() or 1)))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    results = {}
    try:
        with tqdm(total=len(jobs), desc=description, unit="tensor", leave=False) as bar, \
                ThreadPoolExecutor(max_workers=workers) as pool:
            done = map(fn, jobs.values()) if workers == 1 else pool.map(fn, jobs.values())
            for key, tensor in zip(jobs, done):
                results[key] = tensor
                bar.update()
        return results
    finally:
        torch.set_num_threads(previous)


def gguf_tokenizer_json(path: str | os.PathLike) -> tuple[dict, dict]:
    """(tokenizer.json dict, tokenizer init kwargs) of the tokenizer the file describes."""
    from .tokenizer import tokenizer_json_from_metadata

    gguf = read_gguf(path)
    _architecture(gguf)  # a model leanformers cannot load gets no tokenizer either: one clear error for both
    return tokenizer_json_from_metadata(gguf.metadata, gguf.path)


def gguf_tokenizer(path: str | os.PathLike, **kwargs):
    """A ``PreTrainedTokenizerFast`` built from the file's tokenizer metadata."""
    import json

    from ..tokenization import PreTrainedTokenizerFast
    from ..tokenization.engine import Tokenizer

    tokenizer_json, init_kwargs = gguf_tokenizer_json(path)
    forget_gguf(path)  # the vocabulary now lives in the tokenizer: the parse and its map can go
    init_kwargs.update(kwargs)
    backend = Tokenizer.from_str(json.dumps(tokenizer_json, ensure_ascii=False))
    # The engine already carries the BOS/EOS post-processor built from the file's flags; passing
    # add_bos_token/add_eos_token to the constructor would rebuild the engine a second time, so the
    # flags are set after it (the caller's own values, if given, go through the normal path).
    flags = {k: init_kwargs.pop(k) for k in ("add_bos_token", "add_eos_token")
             if k in init_kwargs and k not in kwargs}
    tokenizer = PreTrainedTokenizerFast(_engine=backend, **init_kwargs)  # our own engine: no copy
    for key, value in flags.items():
        tokenizer.__dict__["_" + key] = value
        tokenizer.init_kwargs[key] = value
    return tokenizer
