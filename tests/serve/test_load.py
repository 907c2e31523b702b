"""Bounded load on loopback: 32 concurrent streaming chats on the tiny model, all complete with the
text each gives alone, none lost, memory bounded."""

import concurrent.futures
import os

import pytest

openai = pytest.importorskip("openai")
psutil = pytest.importorskip("psutil")

from serve_helpers import http  # noqa: E402

CLIENTS = 32


def chat(client, i, stream=True):
    messages = [{"role": "user", "content": f"request {i}: " + "the cat " * (i % 7)}]
    kwargs = dict(model="tiny-chat", messages=messages, max_tokens=8 + i % 17, temperature=0)
    if not stream:
        return client.chat.completions.create(**kwargs).choices[0].message.content
    pieces, reasons = [], []
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                reasons.append(choice.finish_reason)
    assert len(reasons) == 1
    return "".join(pieces)


def test_32_concurrent_streaming_chats(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)
    alone = [chat(client, i, stream=False) for i in range(CLIENTS)]
    process = psutil.Process(os.getpid())
    before = process.memory_info().rss
    for _ in range(2):  # twice: memory must not grow with the number of requests served
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            together = list(pool.map(lambda i: chat(client, i), range(CLIENTS)))
        assert together == alone  # every request completed, each with its own text
    grown = process.memory_info().rss - before
    assert grown < 200 * 2**20, f"resident memory grew by {grown / 2**20:.0f} MiB"
    import time

    deadline = time.time() + 5  # the worker drops an emptied batch right after its last step
    while server.app.state.engine._batches and time.time() < deadline:
        time.sleep(0.01)
    assert not server.app.state.engine._batches  # no batch (nor its cache) left behind
    health = http("GET", server.url + "/health")[2]
    assert health["active_rows"] == 0 and health["waiting"] == 0
