"""Bad input and load: each gets one OpenAI-shaped JSON error, and the server keeps serving."""

import threading

import pytest

from serve_helpers import RunningServer, http

CHAT = {"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "temperature": 0}


def error_of(status_headers_body, status):
    got, headers, body = status_headers_body
    assert got == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"], headers


def still_serving(server):
    status, _, body = http("POST", server.url + "/v1/chat/completions", CHAT)
    assert status == 200 and body["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.parametrize("raw, fragment", [
    (b"{not json", "could not parse the JSON body"),
    (b"[1, 2]", "must be a JSON object"),
    (b"\xff\xfe", "could not parse the JSON body"),
])
def test_malformed_json(server, raw, fragment):
    error, _ = error_of(http("POST", server.url + "/v1/chat/completions", raw), 400)
    assert fragment in error["message"] and error["type"] == "invalid_request_error"
    still_serving(server)


@pytest.mark.parametrize("change, param", [
    ({"max_tokens": "5"}, "max_tokens"),
    ({"temperature": "hot"}, "temperature"),
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
    ({"stream": "yes"}, "stream"),
    ({"n": 1.5}, "n"),
])
def test_wrong_types(server, change, param):
    error, _ = error_of(http("POST", server.url + "/v1/chat/completions", {**CHAT, **change}), 400)
    assert error["param"] == param and error["message"].startswith(param)


def test_unknown_field_is_rejected_as_openai_does(server):
    error, _ = error_of(http("POST", server.url + "/v1/chat/completions", {**CHAT, "max_tokenz": 3}), 400)
    assert error["message"] == "Unrecognized request argument supplied: max_tokenz"


@pytest.mark.parametrize("field, value", [("logprobs", True), ("tools", [{"type": "function"}]),
                                          ("logit_bias", {"5": 1}), ("response_format", {"type": "json_object"})])
def test_unsupported_options_are_refused_not_ignored(server, field, value):
    error, _ = error_of(http("POST", server.url + "/v1/chat/completions", {**CHAT, field: value}), 400)
    assert error["param"] == field and "not supported" in error["message"] or "only" in error["message"]
    assert error["code"] == "unsupported_parameter"


@pytest.mark.parametrize("value", [0, -3])
def test_max_tokens_below_one(server, value):
    error, _ = error_of(http("POST", server.url + "/v1/chat/completions", {**CHAT, "max_tokens": value}), 400)
    assert error["param"] == "max_tokens" and "greater than or equal to 1" in error["message"]


def test_max_tokens_above_the_context(server):
    error, _ = error_of(http("POST", server.url + "/v1/chat/completions", {**CHAT, "max_tokens": 5000}), 400)
    assert error["code"] == "context_length_exceeded" and "maximum context length is 256" in error["message"]
    still_serving(server)


def test_unknown_model(server):
    error, _ = error_of(http("POST", server.url + "/v1/chat/completions", {**CHAT, "model": "no/such-model"}), 404)
    assert error["code"] == "model_not_found" and "no/such-model" in error["message"]
    error, _ = error_of(http("POST", server.url + "/models/no-such-model", {"inputs": "x"}), 404)
    assert error["code"] == "model_not_found"
    still_serving(server)


def test_unknown_task_and_route(server):
    error, _ = error_of(http("POST", server.url + "/models/tiny-clf/pipeline/image-dreaming", {"inputs": "x"}), 404)
    assert error["code"] == "task_not_found" and "image-dreaming" in error["message"]
    error, _ = error_of(http("GET", server.url + "/v2/nothing"), 404)
    assert "no route" in error["message"]


def test_body_over_the_limit(server):
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 300_000}]}
    error, _ = error_of(http("POST", server.url + "/v1/chat/completions", big), 413)
    assert error["code"] == "request_too_large" and "200000" in error["message"]
    still_serving(server)


def test_chat_model_without_template_and_pipeline_errors(server):
    # a classifier cannot chat
    status, _, body = http("POST", server.url + "/v1/chat/completions", {**CHAT, "model": "tiny-clf"})
    assert status in (400, 404) and "error" in body
    error, _ = error_of(http("POST", server.url + "/models/tiny-clf", {"inputs": "x", "parameters": {"nope": 1}}),
                        400)
    assert "nope" in error["message"]
    still_serving(server)


@pytest.fixture()
def small_server(chat_model_dir):
    from leanformers.serving.app import create_app

    running = RunningServer(create_app(models=[chat_model_dir], max_batch=1, max_queue=1, device="cpu",
                                       api_key="sesame"))
    yield running
    running.close()


def test_api_key_and_queue_full(small_server):
    url = small_server.url + "/v1/chat/completions"
    error, _ = error_of(http("POST", url, CHAT), 401)
    assert error["code"] == "invalid_api_key"
    error, _ = error_of(http("POST", url, CHAT, {"Authorization": "Bearer wrong"}), 401)
    auth = {"Authorization": "Bearer sesame"}
    assert http("GET", small_server.url + "/health")[0] == 200  # open, like the page
    assert http("GET", small_server.url + "/v1/models", headers=auth)[0] == 200

    # the worker is held busy; one request waits (max_queue=1): the next one gets 429
    gate, held = threading.Event(), threading.Event()
    small_server.app.state.engine.call(lambda store: (held.set(), gate.wait(60)))
    assert held.wait(30)  # the worker runs the gate: it no longer counts as waiting
    results = []
    waiting = threading.Thread(target=lambda: results.append(http("POST", url, CHAT, auth)))
    waiting.start()
    import time

    deadline = time.time() + 30
    while http("GET", small_server.url + "/health")[2]["waiting"] < 1 and time.time() < deadline:
        time.sleep(0.01)
    error, headers = error_of(http("POST", url, CHAT, auth), 429)
    assert headers["retry-after"] == "1" and error["type"] == "rate_limit_exceeded"
    gate.set()
    waiting.join(60)
    assert [r[0] for r in results] == [200]
    assert http("POST", url, CHAT, auth)[0] == 200
