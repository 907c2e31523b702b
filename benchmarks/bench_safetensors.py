"""leanformers' own safetensors reader against the safetensors library, on checkpoints of the size of
all-MiniLM-L6-v2 (22.7 M parameters) and bert-base-uncased (109 M), fp32, files in the page cache.

Three measures per reader, medians of alternating runs:
- open:   the call that returns the state dict (what from_pretrained waits for before assigning);
- touch:  open + read every byte once (a forward pass reads all weights: the deferred page-ins of
          a memory map are paid here);
- rss:    resident memory added by open (MiB): copies show up here, mapped pages only when touched.

    python benchmarks/bench_safetensors.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from leanformers import weights as W  # noqa: E402

SIZES = {  # (vocab, hidden, layers, intermediate, max positions)
    "MiniLM-L6 (22.7M)": (30522, 384, 6, 1536, 512),
    "BERT-base (109M)": (30522, 768, 12, 3072, 512),
}


def bert_like_state(vocab, hidden, layers, inter, positions) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)

    def t(*shape):
        return torch.randn(*shape, generator=g)

    state = {"embeddings.word_embeddings.weight": t(vocab, hidden),
             "embeddings.position_embeddings.weight": t(positions, hidden),
             "embeddings.token_type_embeddings.weight": t(2, hidden),
             "embeddings.LayerNorm.weight": t(hidden), "embeddings.LayerNorm.bias": t(hidden)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            state[p + name + ".weight"], state[p + name + ".bias"] = t(hidden, hidden), t(hidden)
        state[p + "intermediate.dense.weight"], state[p + "intermediate.dense.bias"] = t(inter, hidden), t(inter)
        state[p + "output.dense.weight"], state[p + "output.dense.bias"] = t(hidden, inter), t(hidden)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            state[p + ln + ".weight"], state[p + ln + ".bias"] = t(hidden), t(hidden)
    state["pooler.dense.weight"], state["pooler.dense.bias"] = t(hidden, hidden), t(hidden)
    return state


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def ours(path):
    return W.load_safetensors(path)


def library_load_file(path):
    from safetensors.torch import load_file

    return load_file(path)


def library_safe_open(path):
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


READERS = {"leanformers (mmap views)": ours, "safetensors.load_file": library_load_file,
           "safetensors.safe_open+get_tensor": library_safe_open}


def measure(reader, path, touch: bool):
    before = _rss_mib()
    start = time.perf_counter()
    state = reader(path)
    if touch:
        for t in state.values():
            t.sum()
    elapsed = time.perf_counter() - start
    added = _rss_mib() - before
    del state
    return elapsed, added


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import safetensors

    print(f"torch {torch.__version__}, safetensors {safetensors.__version__}, {args.runs} alternating runs, medians")
    with tempfile.TemporaryDirectory() as folder:
        for label, dims in SIZES.items():
            path = os.path.join(folder, "model.safetensors")
            W.save_safetensors(bert_like_state(*dims), path, {"format": "pt"})
            size = os.path.getsize(path) / 2**20
            for reader in READERS.values():  # warm the page cache and the imports
                measure(reader, path, touch=True)
            results = {name: {"open": [], "touch": [], "rss": []} for name in READERS}
            for _ in range(args.runs):
                for name, reader in READERS.items():
                    elapsed, added = measure(reader, path, touch=False)
                    results[name]["open"].append(elapsed)
                    results[name]["rss"].append(added)
                    results[name]["touch"].append(measure(reader, path, touch=True)[0])
            print(f"\n{label}: {size:.0f} MiB file")
            print(f"  {'reader':36s} {'open ms':>9s} {'open+touch ms':>14s} {'RSS added MiB':>14s}")
            for name, r in results.items():
                print(f"  {name:36s} {statistics.median(r['open']) * 1e3:9.2f} "
                      f"{statistics.median(r['touch']) * 1e3:14.1f} {statistics.median(r['rss']):14.0f}")


if __name__ == "__main__":
    main()
