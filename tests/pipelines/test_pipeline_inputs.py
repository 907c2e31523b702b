"""What a pipeline accepts, and the one clear error for what it does not: unknown parameters, devices
this torch cannot use, bad batch sizes; datasets and iterables streamed lazily; ``run --jsonl``."""

import json
import os
import subprocess
import sys

import pytest

from pipeline_fixtures import MIXED_TEXTS, assert_results_close

import leanformers

torch = pytest.importorskip("torch")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def folder(tiny_model):
    return tiny_model(id2label={0: "NEGATIVE", 1: "POSITIVE"})


@pytest.fixture(scope="module")
def pipe(folder):
    return leanformers.pipeline("text-classification", model=folder, device="cpu")


# ---- unknown parameters ----------------------------------------------------------------------------
def test_unknown_call_parameter_is_reported_by_the_pipeline(pipe):
    with pytest.raises(TypeError) as error:
        pipe("I love it", foo=1)
    message = str(error.value)
    assert message.startswith("TextClassificationPipeline got an unknown parameter 'foo'.")
    assert "BertTokenizer" not in message
    for accepted in ("top_k", "function_to_apply", "batch_size", "truncation", "max_length", "padding"):
        assert accepted in message
    with pytest.raises(TypeError, match="unknown parameters 'foo', 'bar'"):
        pipe(["a", "b"], foo=1, bar=2, top_k=1)
    # tokenizer options still pass through, as in the reference
    assert_results_close(pipe(["I love it"], truncation=True, max_length=5), pipe(["I love it"], max_length=5))


def test_unknown_constructor_parameter_is_reported_by_the_pipeline(folder):
    with pytest.raises(TypeError, match="TextClassificationPipeline got an unknown parameter 'funtion_to_apply'"):
        leanformers.pipeline("text-classification", model=folder, device="cpu", funtion_to_apply="sigmoid")


def test_unknown_parameter_of_a_pipeline_with_fixed_parameters(pipe):
    from leanformers.pipelines.text_classification import TextClassificationPipeline

    class Fixed(TextClassificationPipeline):
        def _sanitize_parameters(self, top_k=""):
            return super()._sanitize_parameters(top_k=top_k)

    fixed = Fixed(model=pipe.model, tokenizer=pipe.tokenizer, device="cpu")
    with pytest.raises(TypeError, match=r"Fixed got an unknown parameter 'padding'\. It accepts batch_size, "
                                        r"num_workers, top_k\.$"):
        fixed("x", padding=True)


# ---- devices and batch sizes -----------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch that cannot use CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_without_cuda_is_one_clear_error(folder, device):
    with pytest.raises(ValueError, match=r"asks for a CUDA GPU, but .*Use device='cpu'") as error:
        leanformers.pipeline("text-classification", model=folder, device=device)
    assert repr(device) in str(error.value)


def test_mps_without_mps_is_one_clear_error(folder):
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("this machine has an MPS device")
    with pytest.raises(ValueError, match=r"device='mps' asks for an Apple GPU \(MPS\).*Use device='cpu'"):
        leanformers.pipeline("text-classification", model=folder, device="mps")


@pytest.mark.parametrize("bad", [0, -1, True, 2.0])
def test_bad_batch_size_is_an_error_naming_the_value(folder, pipe, bad):
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, not {bad!r}"):
        pipe(MIXED_TEXTS[:3], batch_size=bad)
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, not {bad!r}"):
        leanformers.pipeline("text-classification", model=folder, device="cpu", batch_size=bad)


# ---- datasets and iterables ------------------------------------------------------------------------
class KeyDataset(torch.utils.data.Dataset):
    """The reference's documented pattern: a map-style torch Dataset (no __iter__) over one key."""

    def __init__(self, rows, key):
        self.rows, self.key, self.read = rows, key, []

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        self.read.append(i)
        return self.rows[i][self.key]


def test_map_style_torch_dataset_streams_lazily(pipe, folder, ref_pipeline):
    dataset = KeyDataset([{"text": t, "id": i} for i, t in enumerate(MIXED_TEXTS)], "text")
    pipe.sort_window = 1  # windows of one batch, to see the laziness
    try:
        results = pipe(dataset, batch_size=4)
        assert not isinstance(results, list) and dataset.read == []
        first = next(results)
        assert dataset.read == [0, 1, 2, 3]  # one batch read, not the whole dataset
        results = [first, *results]
    finally:
        del pipe.sort_window
    assert dataset.read == list(range(len(MIXED_TEXTS)))
    assert_results_close(results, pipe(MIXED_TEXTS))
    assert_results_close(results, list(ref_pipeline("text-classification", folder)(MIXED_TEXTS)), atol=1e-5)


def test_any_iterable_streams(pipe):
    expected = pipe(MIXED_TEXTS, batch_size=3)

    class Texts:  # iterable, no __len__
        def __iter__(self):
            return iter(MIXED_TEXTS)

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(MIXED_TEXTS)

    for inputs in (Texts(), Stream(), map(str, MIXED_TEXTS), (t for t in MIXED_TEXTS), iter(MIXED_TEXTS)):
        results = pipe(inputs, batch_size=3)
        assert not isinstance(results, list)
        assert_results_close(list(results), expected)


# ---- the command line ------------------------------------------------------------------------------
def _leanformers(*args, stdin=None):
    env = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "leanformers", *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_cli_jsonl_prints_one_result_per_line(folder, pipe):
    texts = MIXED_TEXTS[:5]
    out = _leanformers("run", "text-classification", "--model", folder, "--device", "cpu", "--jsonl",
                       "--batch-size", "2", stdin="\n".join(texts) + "\n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(texts)
    assert_results_close([json.loads(line) for line in lines], pipe(texts), atol=1e-6)
    empty = _leanformers("run", "text-classification", "--model", folder, "--jsonl", stdin="")
    assert empty.returncode == 0 and empty.stdout == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch that cannot use CUDA")
def test_cli_device_error_is_one_line_without_traceback(folder):
    out = _leanformers("run", "text-classification", "hello", "--model", folder, "--device", "cuda")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leanformers run: error: device='cuda' asks for a CUDA GPU")
    bad = _leanformers("run", "text-classification", "hello", "--model", folder, "-p", "foo=1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "unknown parameter 'foo'" in bad.stderr
