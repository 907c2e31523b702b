"""leanformers.projections: project() is each module to the bit, keeps no copy of the weights, and
decoding() sets the decode thread count and restores it."""

import gc
import os

import pytest
import torch
from torch import nn

from leanformers import projections
from leanformers.projections import decode_threads, decoding, project, release


class TransposedLinear(nn.Module):
    """GPT-2's Conv1D: a weight stored (in, out)."""

    transposed_weight = True

    def __init__(self, nx, nf):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nx, nf))
        self.bias = nn.Parameter(torch.randn(nf))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], -1)


def _group(bias):
    torch.manual_seed(0)
    return [nn.Linear(48, n, bias=bias) for n in (48, 16, 16)]


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("bias", [False, True])
def test_group_is_each_linear_to_the_bit_while_decoding(rows, bias):
    group = _group(bias)
    x = torch.randn(rows, 1, 48)
    with torch.no_grad(), decoding(rows):
        outs = project(x, *group)
        joined = project(x, *group, concat=True)
    for out, linear in zip(outs, group):
        assert torch.equal(out, linear(x))
    assert torch.equal(joined, torch.cat([linear(x) for linear in group], dim=-1))


def test_transposed_weight_module_and_autograd():
    conv = TransposedLinear(32, 96)
    x = torch.randn(2, 1, 32, requires_grad=True)
    with decoding(2):
        out = project(x, conv)
    assert torch.equal(out, conv(x))
    out.sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


def test_no_second_copy_of_the_weights_is_kept():
    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64))
    before = {k: dict(m.__dict__) for k, m in model.named_modules()}
    with torch.no_grad(), decoding(1):
        for _ in range(3):
            project(torch.randn(1, 64), model[0])
            project(torch.randn(1, 64), model[1], model[0])
    gc.collect()
    assert {k: dict(m.__dict__) for k, m in model.named_modules()}.keys() == before.keys()
    assert all(m.__dict__.keys() == before[k].keys() for k, m in model.named_modules())
    release(model)  # the earlier API: harmless


def test_decoding_sets_and_restores_the_thread_count(monkeypatch):
    start = torch.get_num_threads()
    monkeypatch.setenv("LEANFORMERS_DECODE_THREADS", "1")
    assert decode_threads() == 1
    with decoding(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == start


def test_decode_threads_follows_the_busy_cores(monkeypatch, tmp_path):
    monkeypatch.delenv("LEANFORMERS_DECODE_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    real_open = open

    def fake(load):
        def opener(path, *a, **k):
            if path == "/proc/loadavg":
                path = tmp_path / "loadavg"
                path.write_text(f"1.0 1.0 1.0 {load}/300 123\n")
            return real_open(path, *a, **k)
        return opener

    monkeypatch.setattr(projections, "_own_running_threads", lambda: 1)
    for running, want in ((1, 4), (2, 3), (4, 1), (9, 1)):  # running includes this thread
        monkeypatch.setattr("builtins.open", fake(running))
        assert projections.decode_threads() == want
    # this process's own runnable threads (OpenMP workers still spinning after a parallel region)
    # are not load from others: they must not lower the count
    monkeypatch.setattr(projections, "_own_running_threads", lambda: 3)
    for running, want in ((3, 4), (4, 3), (9, 1)):
        monkeypatch.setattr("builtins.open", fake(running))
        assert projections.decode_threads() == want


def test_own_running_threads_sees_busy_threads_of_this_process():
    import threading

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    workers = [threading.Thread(target=spin) for _ in range(2)]
    for w in workers:
        w.start()
    try:  # the GIL lets one Python thread run at a time, but all of them are runnable ("R")
        seen = max(projections._own_running_threads() for _ in range(50))
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert seen >= 2
