"""The ASGI app: OpenAI routes, the Inference API routes, the chat page.

Every model call goes through the engine's worker thread (engine.py); the event loop only parses,
validates (pydantic, schemas.py), streams (sse-starlette) and shapes responses. Errors take
OpenAI's shape ``{"error": {"message", "type", "param", "code"}}`` with a matching status.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
import uuid

from pydantic import ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from .engine import Engine, GenerationJob, QueueFull, RequestError, Sampling, Sink, group_key
from .models import ModelStore
from .schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest, InferenceRequest, unsupported

__all__ = ["create_app", "serve", "error_response"]

logger = logging.getLogger("leanformers")
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# routes that answer without an API key: the page (it asks for the key itself) and the health check
_OPEN_PATHS = ("/", "/health")


def error_response(status: int, message: str, type: str = "invalid_request_error", param=None, code=None,
                   headers=None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type, "param": param, "code": code}},
                        status_code=status, headers=headers)


def _from_request_error(e: RequestError) -> JSONResponse:
    headers = {"Retry-After": "1"} if e.status == 429 else None
    return error_response(e.status, e.message, e.type, e.param, e.code, headers)


class _Guard:
    """ASGI middleware: the API key (401) and the body limit (413), before any route runs. The body
    is read here (at most ``max_body`` bytes) and handed on in one piece."""

    def __init__(self, app, api_key: str | None, max_body: int):
        self.app, self.api_key, self.max_body = app, api_key, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.api_key is not None and scope["path"] not in _OPEN_PATHS:
            if headers.get(b"authorization", b"").decode("latin-1") != f"Bearer {self.api_key}":
                response = error_response(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>' "
                                               "with the key the server was started with (--api-key).",
                                          type="invalid_request_error", code="invalid_api_key")
                return await response(scope, receive, send)
        too_large = error_response(413, f"The request body is larger than this server accepts ({self.max_body} "
                                        f"bytes); send less, or start the server with a larger --max-body.",
                                   code="request_too_large")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await too_large(scope, receive, send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return await too_large(scope, receive, send)
            if not message.get("more_body"):
                break
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # then the disconnect, when it comes

        return await self.app(scope, replay, send)


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestError(f"We could not parse the JSON body of your request ({e}). The body must be a JSON "
                           f"object, sent with Content-Type: application/json.") from None
    if not isinstance(body, dict):
        raise RequestError(f"The request body must be a JSON object, not a JSON {type(body).__name__}.")
    return body


def _param(loc: tuple, body: dict) -> str | None:
    """The body's path to a validation error (pydantic's loc also names union branches: dropped)."""
    path, current = [], body
    for part in loc:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            break
        path.append(str(part))
    if not path and loc:
        path = [str(loc[0])]  # a missing field
    return ".".join(path) or None


def _validate(schema, body: dict):
    try:
        parsed = schema.model_validate(body)
    except ValidationError as e:
        first = e.errors()[0]
        param = _param(first["loc"], body)
        if first["type"] == "extra_forbidden":
            raise RequestError(f"Unrecognized request argument supplied: {param}", param=param) from None
        count = f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
        raise RequestError(f"{param}: {first['msg']}{count}", param=param,
                           code="invalid_type" if "type" in first["type"] else "invalid_value") from None
    for param, why in unsupported(parsed):
        raise RequestError(f"{why}.", param=param, code="unsupported_parameter")
    return parsed


class _Run:
    """The generation jobs of one request (one per prompt), their events on one queue."""

    def __init__(self, engine: Engine, specs: list[tuple], n: int):
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.engine, self.n = engine, n
        self.jobs = [GenerationJob(model, prompt, sampling, Sink(loop, self.queue, tag), chat=chat)
                     for tag, (model, prompt, sampling, chat) in enumerate(specs)]
        self.early: list = []
        self.prompt_tokens = 0

    async def start(self, request: Request):
        """Submit every job and wait until each has started (or one failed: RequestError). A client
        that leaves while its request waits for a slot cancels it."""
        watcher = asyncio.ensure_future(_until_disconnect(request, self))
        try:
            for job in self.jobs:
                self.engine.submit(job)
            started = 0
            while started < len(self.jobs):
                tag, event = await self.queue.get()
                if event[0] == "error":
                    raise event[1]
                if event[0] == "start":
                    started += 1
                    self.prompt_tokens += event[1]
                else:
                    self.early.append((tag, event))
        except BaseException:
            self.cancel()
            raise
        finally:
            watcher.cancel()

    async def events(self):
        """``(choice, kind, *payload)`` with choices numbered across the prompts, until every job ended."""
        ended = 0
        while ended < len(self.jobs):
            tag, event = self.early.pop(0) if self.early else await self.queue.get()
            if event[0] == "error":
                raise event[1]
            if event[0] == "end":
                ended += 1
                continue
            yield (tag * self.n + event[1], event[0], *event[2:])

    def cancel(self):
        for job in self.jobs:
            job.cancel()


async def _until_disconnect(request: Request, run: _Run):
    """Cancel ``run`` when the client goes away (a non-streaming request)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            run.cancel()
            return


async def _collect(request: Request, run: _Run) -> tuple[dict, dict, dict]:
    texts, reasons, tokens = {}, {}, {}
    watcher = asyncio.ensure_future(_until_disconnect(request, run))
    try:
        async for choice, kind, *payload in run.events():
            if kind == "delta":
                texts[choice] = texts.get(choice, "") + payload[0]
            elif kind == "finish":
                reasons[choice], tokens[choice] = payload
    finally:
        watcher.cancel()
        run.cancel()
    return texts, reasons, tokens


def _sampling(body, max_tokens) -> Sampling:
    return Sampling(max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p, seed=body.seed,
                    stop=body.stops(), n=body.n or 1, frequency_penalty=body.frequency_penalty or 0.0,
                    presence_penalty=body.presence_penalty or 0.0)


def _usage(prompt: int, tokens: dict) -> dict:
    completion = sum(tokens.values())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _stream(run: _Run, first_chunk, chunk, usage_chunk, include_usage: bool):
    """SSE: the chunks, then the usage chunk (when asked), then ``data: [DONE]``."""
    async def events():
        tokens = {}
        try:
            for choice in range(len(run.jobs) * run.n):
                if first_chunk is not None:
                    yield {"data": json.dumps(first_chunk(choice))}
            async for choice, kind, *payload in run.events():
                if kind == "delta":
                    yield {"data": json.dumps(chunk(choice, payload[0], None))}
                elif kind == "finish":
                    tokens[choice] = payload[1]
                    yield {"data": json.dumps(chunk(choice, None, payload[0]))}
            if include_usage:
                yield {"data": json.dumps(usage_chunk(_usage(run.prompt_tokens, tokens)))}
        except RequestError as e:
            yield {"data": json.dumps({"error": {"message": e.message, "type": e.type, "param": e.param,
                                                 "code": e.code}})}
        finally:
            run.cancel()  # a disconnected client: its rows leave the batch
        yield {"data": "[DONE]"}

    return EventSourceResponse(events(), sep="\n", ping=15)


# ---- OpenAI routes ------------------------------------------------------------------------------
async def chat_completions(request: Request, model: str | None = None):
    body = await _json_body(request)
    if model is not None:  # /models/{model}/v1/chat/completions (InferenceClient.chat_completion)
        body["model"] = model
    req = _validate(ChatCompletionRequest, body)
    try:
        messages = [{"role": m.role, "content": m.text(i)} for i, m in enumerate(req.messages)]
    except ValueError as e:
        raise RequestError(str(e), param="messages") from None
    max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    engine: Engine = request.app.state.engine
    run = _Run(engine, [(req.model, messages, _sampling(req, max_tokens), True)], req.n or 1)
    await run.start(request)
    ident = run.jobs[0].model_id
    rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": ident}
        extra = {"usage": None} if include_usage else {}

        def first(choice):
            return {**base, "choices": [{"index": choice, "delta": {"role": "assistant", "content": ""},
                                         "logprobs": None, "finish_reason": None}], **extra}

        def chunk(choice, text, reason):
            delta = {"content": text} if text is not None else {}
            return {**base, "choices": [{"index": choice, "delta": delta, "logprobs": None,
                                         "finish_reason": reason}], **extra}

        return _stream(run, first, chunk, lambda usage: {**base, "choices": [], "usage": usage}, include_usage)
    texts, reasons, tokens = await _collect(request, run)
    choices = [{"index": i, "message": {"role": "assistant", "content": texts.get(i, ""), "refusal": None},
                "logprobs": None, "finish_reason": reasons.get(i, "stop")} for i in range(req.n or 1)]
    return JSONResponse({"id": rid, "object": "chat.completion", "created": created, "model": ident,
                         "choices": choices, "usage": _usage(run.prompt_tokens, tokens)})


async def completions(request: Request):
    req = _validate(CompletionRequest, await _json_body(request))
    prompts = req.prompt
    if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
        prompts = [prompts]
    if not prompts:
        raise RequestError("prompt must not be empty.", param="prompt")
    n = req.n or 1
    sampling = _sampling(req, req.max_tokens)
    run = _Run(request.app.state.engine, [(req.model, p, sampling, False) for p in prompts], n)
    await run.start(request)
    ident = run.jobs[0].model_id
    rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
    base = {"id": rid, "object": "text_completion", "created": created, "model": ident}
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        def chunk(choice, text, reason):
            return {**base, "choices": [{"index": choice, "text": text or "", "logprobs": None,
                                         "finish_reason": reason}]}

        return _stream(run, None, chunk, lambda usage: {**base, "choices": [], "usage": usage}, include_usage)
    texts, reasons, tokens = await _collect(request, run)
    choices = [{"index": i, "text": texts.get(i, ""), "logprobs": None, "finish_reason": reasons.get(i, "stop")}
               for i in range(len(prompts) * n)]
    return JSONResponse({**base, "choices": choices, "usage": _usage(run.prompt_tokens, tokens)})


def _embed(store: ModelStore, items: list):
    """Worker side of /v1/embeddings: ``items`` are (model, texts) with the same model."""
    ident, pipe = store.pipeline(items[0][0], "sentence-embeddings")
    texts = [t for _, batch in items for t in batch]
    vectors = pipe(texts, return_tensors=True)
    counts = [len(ids) for ids in pipe.tokenizer(texts, truncation=True)["input_ids"]]
    results, start = [], 0
    for _, batch in items:
        end = start + len(batch)
        results.append((ident, [v.tolist() for v in vectors[start:end]], sum(counts[start:end])))
        start = end
    return results


async def embeddings(request: Request):
    req = _validate(EmbeddingRequest, await _json_body(request))
    texts = [req.input] if isinstance(req.input, str) else list(req.input)
    if not texts or any(not t for t in texts):
        raise RequestError("input must be a non-empty string or a list of non-empty strings.", param="input")
    future = request.app.state.engine.call(_embed, (req.model, texts), group=group_key("embed", req.model))
    ident, vectors, tokens = await asyncio.wrap_future(future)
    data = []
    for i, vector in enumerate(vectors):
        if req.encoding_format == "base64":
            import numpy as np

            vector = base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": vector})
    return JSONResponse({"object": "list", "data": data, "model": ident,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


async def list_models(request: Request):
    store: ModelStore = request.app.state.store
    return JSONResponse({"object": "list", "data": [store.describe(i) for i in store.listed()]})


async def get_model(request: Request):
    store: ModelStore = request.app.state.store
    name = request.path_params["model"]
    if name not in store.listed():
        raise RequestError(f"The model {name!r} does not exist (GET /v1/models lists the loaded ones).",
                           status=404, param="model", code="model_not_found")
    return JSONResponse(store.describe(name))


async def health(request: Request):
    engine: Engine = request.app.state.engine
    return JSONResponse({"status": "ok", "models": request.app.state.store.listed(),
                         "active_rows": engine.active_rows, "waiting": engine.waiting})


async def page(request: Request):
    return FileResponse(os.path.join(STATIC, "chat.html"), media_type="text/html")


# ---- the Inference API ------------------------------------------------------------------------
async def inference(request: Request):
    from .inference import run_inference

    rest = request.path_params["rest"].rstrip("/")  # "/models//abs/path" names an absolute path
    if rest.endswith("/v1/chat/completions"):
        return await chat_completions(request, model=rest[:-len("/v1/chat/completions")])
    task = None
    if "/pipeline/" in rest:
        rest, task = rest.rsplit("/pipeline/", 1)
    req = _validate(InferenceRequest, await _json_body(request))
    return await run_inference(request, rest, task, req)


# ---- the app ------------------------------------------------------------------------------------
async def _on_request_error(request, e: RequestError):
    return _from_request_error(e)


async def _on_http_error(request, e: HTTPException):
    kind = "not_found_error" if e.status_code == 404 else "invalid_request_error"
    message = (f"There is no route {request.method} {request.url.path} (see GET /v1/models, POST "
               f"/v1/chat/completions, /v1/completions, /v1/embeddings, /models/{{model}})."
               if e.status_code in (404, 405) else str(e.detail))
    return error_response(e.status_code, message, kind)


async def _on_error(request, e: Exception):
    logger.exception("leanformers serve: an error in %s %s", request.method, request.url.path, exc_info=e)
    return error_response(500, f"Internal error: {type(e).__name__}: {e}", "server_error")


def create_app(models=(), *, max_batch: int = 8, max_queue: int = 64, max_models: int = 4, device=None,
               dtype=None, api_key: str | None = None, max_body: int = 1_000_000):
    """The ASGI app. ``models`` are loaded (on the worker thread) before it answers."""
    store = ModelStore(max_models=max(max_models, len(models)), device=device, dtype=dtype)
    engine = Engine(store, max_batch=max_batch, max_queue=max_queue)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        engine.start()
        for source in models:
            def load(store, source=source):
                store.add(source, pin=True)
                return store.pipeline(source, store.infer_task(source))[0]
            await asyncio.wrap_future(engine.call(load))
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, engine.stop)

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/models/{rest:path}", inference, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        RequestError: _on_request_error, QueueFull: _on_request_error, HTTPException: _on_http_error,
        Exception: _on_error})
    app.state.engine, app.state.store = engine, store
    app.add_middleware(_Guard, api_key=api_key, max_body=max_body)
    return app


def serve(models=(), host: str = "127.0.0.1", port: int = 8000, log_level: str = "info", **kwargs):
    """Run the server until interrupted (``leanformers serve``)."""
    import uvicorn

    uvicorn.run(create_app(models, **kwargs), host=host, port=port, log_level=log_level)
