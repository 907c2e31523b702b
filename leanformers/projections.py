"""Linear projections: every decoder model file computes its linear layers through :func:`project`.

One copy of the weights. Measured on this project's CPU (benchmarks/bench_kernels.py, interleaved
rounds), ``F.linear`` on the module's own (out, in) weight -- MKL's matrix-vector kernel -- is as
fast as or faster than oneDNN's inner product on a re-laid-out copy at one decoding row, the case
that dominates local generation, so ``project()`` keeps no second, re-laid-out copy of any weight
(an earlier version did, for +100% of the model's memory): float layers are plain ``F.linear``,
which gives the reference's numbers to the bit.

Quantized layers (``from_pretrained(..., quantization=...)``, :mod:`leanformers.quantization`) are
called as they are; when several of them read the same input (q, k and v; gate and up),
``project()`` fuses them once into one kernel call whose packed rows the layers then view.

``decoding(rows)`` marks a ``generate()`` loop. Within it, on a machine whose cores are busier
than torch's thread count assumes, the matmuls run on fewer threads (see :func:`decode_threads`):
an OpenMP team whose threads wait on each other at every kernel collapses when one of them is
descheduled, while fewer threads lose only their own share. ``release()`` is kept for callers of the
earlier API and does nothing: there is no copy to free.
"""

from __future__ import annotations

import contextlib
import os

import torch

__all__ = ["project", "decoding", "release", "decode_threads"]

_TRIM_PENDING = False  # quantized groups were fused since the last malloc_trim


def decode_threads() -> int:
    """Threads for a decoding loop: torch's own count, or fewer when other processes keep cores busy
    (runnable tasks in /proc/loadavg, sampled once per ``generate()``, minus this process's own).
    ``LEANFORMERS_DECODE_THREADS`` overrides it."""
    wanted = torch.get_num_threads()
    override = os.environ.get("LEANFORMERS_DECODE_THREADS")
    if override:
        return max(1, int(override))
    try:
        cores = len(os.sched_getaffinity(0))
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (AttributeError, OSError, ValueError, IndexError):
        return wanted
    return max(1, min(wanted, cores - max(0, running - _own_running_threads())))


def _own_running_threads() -> int:
    """This process's runnable threads (at least the caller): right after a parallel region torch's
    OpenMP workers still spin, and counted as "other" load they halved the threads of every
    generate() after the first (measured: 47 instead of 61 tokens/s on SmolLM2, calm machine)."""
    count = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue  # the thread ended meanwhile
            if stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] == b"R":
                count += 1
    except OSError:
        pass
    return max(1, count)


@contextlib.contextmanager
def decoding(rows: int):
    """Wraps a ``generate()`` loop over ``rows`` sequences (see the module docstring)."""
    global _TRIM_PENDING
    previous = torch.get_num_threads()
    threads = decode_threads()
    if threads != previous:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads != previous:
            torch.set_num_threads(previous)
        if _TRIM_PENDING:  # fusing freed the layers' own packed tensors: hand that heap back once
            from .quantization import return_freed_memory

            _TRIM_PENDING = False
            return_freed_memory()


def project(x: torch.Tensor, *modules, concat: bool = False):
    """``module(x)`` for each module (``nn.Linear``, one with ``transposed_weight = True`` whose weight
    is stored (in, out), or a quantized layer): one tensor for one module, a tuple for several, or
    with ``concat=True`` one tensor holding the outputs side by side on the last dimension.

    All modules must read ``x`` (same in_features)."""
    if len(modules) == 1:
        return modules[0](x)
    group = tuple(map(id, modules))
    fused = modules[0].__dict__.get("_fused_group")
    if fused is not None and fused[0] != group:
        fused = None  # called with another group: fall back to one call per module
    elif fused is None and type(modules[0]).__name__ == "QuantizedLinear":
        from .quantization import QuantizedLinear, fuse

        if all(isinstance(m, QuantizedLinear) for m in modules):
            global _TRIM_PENDING
            fused = (group, fuse(modules))
            modules[0].__dict__["_fused_group"] = fused
            _TRIM_PENDING = True
    fused = fused and fused[1]
    if fused:
        out = fused(x)
        return out if concat else out.split([m.out_features for m in modules], dim=-1)
    outs = tuple(m(x) for m in modules)
    return torch.cat(outs, dim=-1) if concat else outs


def release(model: torch.nn.Module):
    """Kept for the earlier API: ``project()`` keeps no copy of the weights, so there is nothing to free."""
    del model
