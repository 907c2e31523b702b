"""The Hugging Face Inference API: ``POST /models/{model}`` and ``/models/{model}/pipeline/{task}``.

Bodies are ``{"inputs": ..., "parameters": {...}}``; results are the task's JSON as
``huggingface_hub.InferenceClient`` parses it. Text generation joins the engine's continuous batch
(TGI's response shape, streamed as SSE when asked); every other task is a pipeline call on the
worker thread, and calls on single texts with the same model, task and parameters that wait
together run as one batched pipeline call.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from .engine import RequestError, Sampling, group_key

__all__ = ["run_inference"]

# TGI parameters leanformers does not implement (a truthy value is refused in the words TGI uses,
# which InferenceClient understands: it retries without them)
_TGI_UNSUPPORTED = ("best_of", "decoder_input_details", "watermark", "top_n_tokens", "grammar", "adapter_id",
                    "truncate", "typical_p")
_TGI_SUPPORTED = {"max_new_tokens", "temperature", "top_p", "top_k", "do_sample", "seed", "stop", "stop_sequences",
                  "return_full_text", "repetition_penalty", "frequency_penalty", "details"}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _call_args(task: str, params: dict) -> dict:
    params = dict(params)
    params.update(params.pop("generate_parameters", None) or {})  # summarization / translation
    if task == "text-classification":
        params.setdefault("top_k", None)  # every label, best first, as the Inference API returns
    return params


def _shape(task: str, result, single: bool):
    """The pipeline's result in the Inference API's shape."""
    if task == "text-classification" and single:
        return [result]
    if task == "zero-shot-classification":
        items = [result] if single else result
        shaped = [[{"label": label, "score": score} for label, score in zip(r["labels"], r["scores"])] for r in items]
        return shaped[0] if single else shaped
    return result


def _pipeline_one(store, item):
    model, task, inputs, params = item
    if task == "sentence-similarity":
        return _similarity(store, model, inputs, params)
    _, pipe = store.pipeline(model, task)
    single = isinstance(inputs, str)
    return _jsonable(_shape(task, pipe(inputs, **_call_args(task, params)), single))


def _pipeline_many(store, items):
    """One batched call for single-text requests of the same model, task and parameters."""
    if len(items) == 1:  # some pipelines unwrap a list of one (fill-mask, as the reference's)
        return [_pipeline_one(store, items[0])]
    model, task, _, params = items[0]
    _, pipe = store.pipeline(model, task)
    results = pipe([item[2] for item in items], **_call_args(task, params))
    return [_jsonable(_shape(task, r, True)) for r in results]


def _similarity(store, model, inputs, params):
    if not (isinstance(inputs, dict) and isinstance(inputs.get("source_sentence"), str)
            and isinstance(inputs.get("sentences"), list)):
        raise RequestError('sentence-similarity takes inputs {"source_sentence": "...", "sentences": ["...", ...]}.',
                           param="inputs")
    if params:
        raise RequestError(f"sentence-similarity takes no parameters, got {sorted(params)}.", param="parameters")
    _, pipe = store.pipeline(model, "sentence-embeddings")
    vectors = pipe([inputs["source_sentence"], *inputs["sentences"]], return_tensors=True)
    import torch

    source = torch.nn.functional.normalize(vectors[0], dim=-1)
    others = torch.nn.functional.normalize(torch.stack(vectors[1:]), dim=-1)
    return (others @ source).tolist()


def _infer(store, model, params):
    try:
        task = store.infer_task(model)
    except RuntimeError as e:  # no architecture that names a task: the client must name one
        raise RequestError(f"{e} Or post to /models/{model}/pipeline/<task>.", param="task") from None
    if task == "text-classification" and "candidate_labels" in params:
        return "zero-shot-classification"  # an NLI classifier asked with labels
    return task


async def run_inference(request: Request, model: str, task: str | None, req):
    from ..pipelines import check_task

    engine = request.app.state.engine
    params = req.parameters or {}
    if not isinstance(params, dict):
        raise RequestError("parameters must be a JSON object.", param="parameters")
    if task is None:
        task = await asyncio.wrap_future(engine.call(lambda store: _infer(store, model, params)))
    if task == "feature-extraction" and await _is_sentence_model(engine, model):
        task = "sentence-embeddings"
    if task == "sentence-embeddings" and isinstance(req.inputs, dict):
        task = "sentence-similarity"
    if task != "sentence-similarity":
        try:
            task, _ = check_task(task)
        except KeyError as e:
            raise RequestError(e.args[0], status=404, param="task", code="task_not_found") from None
    if task == "text-generation":
        return await _text_generation(request, model, req, params)
    if req.stream:
        raise RequestError(f"stream is only supported for text-generation, not {task}.", param="stream")
    single = isinstance(req.inputs, str)
    group = group_key("pipeline", model, task, params) if single and task != "sentence-similarity" else None
    item = (model, task, req.inputs, params)
    if group is not None:
        future = engine.call(_pipeline_many, item, group=group)
    else:
        future = engine.call(_pipeline_one, item)
    return JSONResponse(await asyncio.wrap_future(future))


async def _is_sentence_model(engine, model) -> bool:
    """feature-extraction on a sentence-transformers checkpoint gives its sentence embeddings, as
    the Inference API does."""
    return await asyncio.wrap_future(engine.call(lambda store: store.infer_task(model) == "sentence-embeddings"))


async def _text_generation(request: Request, model: str, req, params: dict):
    from .app import _collect, _Run

    if not isinstance(req.inputs, str):
        raise RequestError("text-generation takes one prompt string as inputs.", param="inputs")
    unused = [k for k in params if k in _TGI_UNSUPPORTED and params[k]]
    unused += [k for k in params if k not in _TGI_SUPPORTED and k not in _TGI_UNSUPPORTED]
    if unused:
        raise RequestError(f"The following `model_kwargs` are not used by the model: {unused} (leanformers serve "
                           f"does not implement them)", param="parameters")
    stop = params.get("stop") or params.get("stop_sequences") or []
    if isinstance(stop, str):
        stop = [stop]
    try:
        sampling = Sampling(max_tokens=params.get("max_new_tokens"), temperature=params.get("temperature"),
                            top_p=params.get("top_p"), top_k=params.get("top_k"), seed=params.get("seed"),
                            stop=list(stop), frequency_penalty=float(params.get("frequency_penalty") or 0.0),
                            repetition_penalty=params.get("repetition_penalty"), do_sample=params.get("do_sample"))
        if sampling.max_tokens is not None and (not isinstance(sampling.max_tokens, int) or sampling.max_tokens < 1):
            raise ValueError("max_new_tokens must be a positive integer.")
    except (TypeError, ValueError) as e:
        raise RequestError(f"parameters: {e}", param="parameters") from None
    if sampling.max_tokens is None:
        sampling.max_tokens = 100  # the Inference API's default budget
    prefix = req.inputs if params.get("return_full_text") else ""
    run = _Run(request.app.state.engine, [(model, req.inputs, sampling, False)], 1)
    await run.start(request)
    details = bool(params.get("details"))

    def finish_details(reason, tokens):
        return {"finish_reason": {"length": "length", "stop": "eos_token"}.get(reason, reason),
                "generated_tokens": tokens, "seed": sampling.seed, "prefill": [], "tokens": []}

    if req.stream:
        from sse_starlette.sse import EventSourceResponse

        async def events():
            text = ""
            try:
                async for _, kind, *payload in run.events():
                    if kind == "delta":
                        text += payload[0]
                        yield {"data": json.dumps({"index": 0, "token": {"id": 0, "text": payload[0], "logprob": 0.0,
                                                                         "special": False},
                                                   "generated_text": None, "details": None, "top_tokens": None})}
                    elif kind == "finish":
                        final = {"index": 0, "token": {"id": 0, "text": "", "logprob": 0.0, "special": True},
                                 "generated_text": prefix + text, "top_tokens": None,
                                 "details": finish_details(*payload) if details else None}
                        yield {"data": json.dumps(final)}
            finally:
                run.cancel()

        return EventSourceResponse(events(), sep="\n", ping=15)
    texts, reasons, tokens = await _collect(request, run)
    out = {"generated_text": prefix + texts.get(0, "")}
    if details:
        out["details"] = finish_details(reasons.get(0, "stop"), tokens.get(0, 0))
    return JSONResponse([out])
