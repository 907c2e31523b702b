"""leanformers.projections: the decoding kernels give F.linear's numbers, and step aside when they should."""

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from leanformers import projections
from leanformers.projections import decoding, project, release

needs_onednn = pytest.mark.skipif(not projections._onednn_ok(), reason="this torch build has no oneDNN linear")


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


@needs_onednn
@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("bias", [False, True])
def test_fused_group_matches_each_linear(rows, bias):
    group = _group(bias)
    x = torch.randn(rows, 1, 48)
    with torch.no_grad(), decoding(rows):
        outs = project(x, *group)
    assert "_decode_weights" in group[0].__dict__  # the fast path was taken
    for out, linear in zip(outs, group):
        torch.testing.assert_close(out, linear(x), atol=1e-5, rtol=1e-5)


@needs_onednn
@pytest.mark.parametrize("rows", [1, 2])
def test_transposed_weight_module(rows):
    torch.manual_seed(0)
    conv = TransposedLinear(32, 96)
    x = torch.randn(rows, 1, 32)
    with torch.no_grad(), decoding(rows):
        out = project(x, conv)
    torch.testing.assert_close(out, conv(x), atol=1e-5, rtol=1e-5)
    if rows == 1:  # already (in, out): used as it is, no copy
        assert group_weight(conv).data_ptr() == conv.weight.data_ptr()


def group_weight(module):
    return module.__dict__["_decode_weights"].weight


@needs_onednn
def test_a_changed_weight_is_repacked_by_the_next_decoding_block():
    linear = nn.Linear(16, 8)
    x = torch.randn(1, 16)
    with torch.no_grad():
        with decoding(1):
            project(x, linear)
            first = group_weight(linear)
            linear.weight.mul_(2.0)  # changed mid-block: the copy is only checked once per block
            project(x, linear)
            assert group_weight(linear) is first
        with decoding(1):  # the next generate() call sees the optimizer step
            torch.testing.assert_close(project(x, linear), linear(x), atol=1e-5, rtol=1e-5)
        linear.weight = nn.Parameter(torch.randn(8, 16))  # a new tensor
        with decoding(1):
            torch.testing.assert_close(project(x, linear), linear(x), atol=1e-5, rtol=1e-5)
        with decoding(1):  # nothing changed: the copy is kept
            kept = group_weight(linear)
            project(x, linear)
            assert group_weight(linear) is kept


@pytest.mark.parametrize("decode", [False, True])
def test_concat_puts_the_outputs_side_by_side(decode):
    group = _group(True)
    x = torch.randn(1, 1, 48)
    with torch.no_grad(), (decoding(1) if decode else contextlib.nullcontext()):
        joined = project(x, *group, concat=True)
    expected = torch.cat([linear(x) for linear in group], dim=-1)
    if decode and projections._onednn_ok():
        assert "_decode_weights" in group[0].__dict__
        torch.testing.assert_close(joined, expected, atol=1e-5, rtol=1e-5)
    else:
        assert torch.equal(joined, expected)


def test_outside_decoding_it_is_the_module_itself_to_the_bit():
    group = _group(True)
    x = torch.randn(2, 5, 48)
    with torch.no_grad():
        outs = project(x, *group)
    for out, linear in zip(outs, group):
        assert torch.equal(out, linear(x))
    assert "_decode_weights" not in group[0].__dict__


def test_prompt_rows_and_autograd_take_the_plain_path():
    linear = nn.Linear(16, 8)
    with decoding(2):
        x = torch.randn(2, 7, 16)  # 14 rows > 2: the prompt
        with torch.no_grad():
            assert torch.equal(project(x, linear), linear(x))
        y = torch.randn(2, 1, 16, requires_grad=True)
        project(y, linear).sum().backward()  # autograd on: the module's own forward
    assert y.grad is not None and linear.weight.grad is not None
    assert "_decode_weights" not in linear.__dict__


def test_without_onednn_it_falls_back(monkeypatch):
    monkeypatch.setattr(projections, "_ONEDNN", False)
    group = _group(False)
    x = torch.randn(1, 1, 48)
    with torch.no_grad(), decoding(1):
        outs = project(x, *group)
    for out, linear in zip(outs, group):
        assert torch.equal(out, linear(x))


@needs_onednn
def test_release_frees_the_copies_and_decoding_nests():
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    with torch.no_grad(), decoding(4):
        with decoding(1):
            project(torch.randn(1, 8), model[0])
        assert projections._state.rows == 4
        project(torch.randn(3, 8), model[1])
    assert projections._state.rows == 0
    assert all("_decode_weights" in m.__dict__ for m in model)
    release(model)
    assert not any("_decode_weights" in m.__dict__ for m in model)


@needs_onednn
def test_inference_mode_weights():
    with torch.inference_mode():
        linear = nn.Linear(8, 4)  # its weight is an inference tensor: no version counter
        x = torch.randn(1, 8)
        with decoding(1):
            torch.testing.assert_close(project(x, linear), F.linear(x, linear.weight, linear.bias),
                                       atol=1e-5, rtol=1e-5)
