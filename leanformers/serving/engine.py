"""Continuous batching on the generation step API: one worker thread owns the models.

Requests join a model's running batch at step boundaries and leave it when they finish, each with
its own sampling settings, stop strings and token budget:

- a new request is tokenized and prefilled on its own, through the same calls ``generate()``
  makes (``prepare`` → ``DecodeState.prefill``), so its first token is what ``generate()`` gives;
- its KV cache then joins the batch's: both are left-padded to a common length and stacked; the
  attention mask marks the padding and each row keeps its own positions, so a row decodes as if
  it were alone (to float rounding: padded attention and a batched matmul sum in another order);
- a step runs the model once on every row's last token (``decoding(rows)`` lets the projections
  use their few-rows kernels), then each row picks its token with its own logits processors
  (temperature, top-p, penalties; built by ``prepare`` from the request's settings) and its own
  ``torch.Generator`` when it has a seed;
- finished, cancelled or disconnected rows leave the batch (``Cache.batch_select_indices``) and
  key columns no remaining row uses are cut off, so memory follows the live requests.

A request alone in its batch takes exactly ``generate()``'s path (no mask, one-row kernels), so
greedy results equal ``model.generate`` on the same prompt. Text is decoded incrementally on the
worker (a tokenizer is not thread-safe); stop strings are matched on the text, and text that may
still become a stop string is held back from the stream until it cannot.

Everything else the server runs on a model (pipelines, embeddings) is a :class:`CallJob` run on the
same thread between steps; pipeline calls with the same model, task and parameters that wait
together run as one batch.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import logging
import queue
import threading
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..cache import DynamicCache
from ..generation.prepare import context_length, forward_params, prepare
from ..generation.step import DecodeState
from ..projections import decoding
from .models import ModelNotFound, ModelStore

__all__ = ["Engine", "GenerationJob", "CallJob", "Sampling", "RequestError", "QueueFull"]

logger = logging.getLogger("leanformers")


class RequestError(Exception):
    """A request the server refuses: becomes an OpenAI-shaped JSON error with this status."""

    def __init__(self, message: str, status: int = 400, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message, self.status, self.type, self.param, self.code = message, status, type, param, code


class QueueFull(RequestError):
    def __init__(self, limit: int):
        super().__init__(f"The server has {limit} requests waiting already (--max-queue); retry shortly.",
                         status=429, type="rate_limit_exceeded", code="queue_full")


@dataclass
class Sampling:
    """One request's decoding settings; ``None`` leaves a setting to the model's generation config
    (as ``model.generate`` would)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    n: int = 1
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float | None = None
    do_sample: bool | None = None

    def generate_kwargs(self) -> dict:
        kwargs = {}
        if self.temperature == 0 or self.do_sample is False:
            kwargs["do_sample"] = False  # temperature 0 means greedy, as in OpenAI's API
        elif self.temperature is not None or self.top_p is not None or self.do_sample:
            kwargs["do_sample"] = True
            if self.temperature is not None:
                kwargs["temperature"] = self.temperature
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        if self.top_k is not None:
            kwargs["top_k"] = self.top_k
        if self.repetition_penalty is not None:
            kwargs["repetition_penalty"] = self.repetition_penalty
        return kwargs


class Sink:
    """Hands the worker's events to an asyncio queue from the worker thread, tagged ``(tag, event)``
    so that one queue can gather the events of several jobs; or to a plain callback."""

    def __init__(self, loop=None, queue=None, tag=0, callback=None):
        self._loop, self._queue, self._tag, self._callback = loop, queue, tag, callback

    def put(self, event):
        if self._callback is not None:
            self._callback(event)
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (self._tag, event))
        except RuntimeError:  # the loop is closed: nobody listens any more
            pass


class GenerationJob:
    """A generation request. ``prompt`` is a list of chat messages (``chat=True``), a string, or a
    list of token ids. Events put on ``sink``: ``("start", prompt_tokens)``, ``("delta", choice,
    text)``, ``("finish", choice, reason, completion_tokens)``, ``("end", usage)`` or
    ``("error", RequestError)``."""

    def __init__(self, model: str, prompt, sampling: Sampling, sink: Sink, chat: bool = False,
                 add_special_tokens: bool = True):
        self.model, self.prompt, self.sampling, self.sink, self.chat = model, prompt, sampling, sink, chat
        self.add_special_tokens = add_special_tokens
        self.cancelled = False
        self.model_id = None
        self.finished = 0  # rows finished
        self.completion = 0  # tokens they generated

    def cancel(self):
        """Called from any thread: the rows leave the batch at the next step boundary."""
        self.cancelled = True


class CallJob:
    """``fn(store, *inputs)`` on the worker thread; the result (or error) resolves ``future``.
    Jobs with the same non-None ``group`` waiting together run as one call on all their inputs
    (``fn`` then gets a list and returns a list)."""

    def __init__(self, fn, inputs, group=None):
        self.fn, self.inputs, self.group = fn, inputs, group
        self.future = concurrent.futures.Future()
        self.cancelled = False


class _Row:
    """One sequence of a generation job in a batch."""

    def __init__(self, job, index, plan, prompt_ids: list[int], generator, tokenizer):
        self.job, self.index, self.plan, self.generator = job, index, plan, generator
        self.tokenizer = tokenizer
        s = job.sampling
        self.processors = plan.processors if len(plan.processors) else None
        self.penalized = s.frequency_penalty != 0 or s.presence_penalty != 0
        self.simple = self.processors is None and not self.penalized and not plan.do_sample
        self.max_new = plan.max_length - plan.prompt_length
        self.eos = set(plan.eos or ())
        self.stop = [x for x in s.stop if x]
        self.generated: list[int] = []
        self.sequence = None
        if self.processors is not None:  # processors read the sequence so far
            self.sequence = torch.zeros((1, plan.max_length), dtype=torch.long)
            self.sequence[0, :len(prompt_ids)] = torch.tensor(prompt_ids)
            self.length = len(prompt_ids)
        self.counts = None
        # incremental decoding: the last prompt tokens give the first new token its context
        # (a leading space is kept that decoding it alone would drop)
        self.tokens = list(prompt_ids[-4:])
        self.prefix = 0
        self.read = len(self.tokens)
        self.text = ""
        self.sent = 0
        self.done = None  # the finish reason once finished
        self.stopped = False  # by a stop string

    def choose(self, logits: torch.Tensor) -> int:
        """This row's next token from its (1, vocab) logits."""
        scores = logits
        if self.penalized:  # OpenAI's penalties: counts of the tokens generated so far
            s = self.job.sampling
            if self.counts is None:
                self.counts = torch.zeros(scores.shape[-1], dtype=scores.dtype, device=scores.device)
            scores = scores - s.frequency_penalty * self.counts - s.presence_penalty * (self.counts > 0).to(scores.dtype)
        if self.processors is not None:
            scores = self.processors(self.sequence[:, :self.length].to(scores.device), scores)
        if self.plan.do_sample:
            probs = torch.softmax(scores, dim=-1)
            return int(torch.multinomial(probs, num_samples=1, generator=self.generator))
        return int(torch.argmax(scores, dim=-1))

    def accept(self, token: int):
        """Record ``token``; emit the text it completes; set ``done`` when the row is finished."""
        self.generated.append(token)
        if self.sequence is not None:
            self.sequence[0, self.length] = token
            self.length += 1
        if self.counts is not None:
            self.counts[token] += 1
        if token in self.eos:
            self.done = "stop"
        else:
            self.tokens.append(token)
            self._decode()
        if self.done is None and len(self.generated) >= self.max_new:
            self.done = "length"
        if self.done is not None and self.read < len(self.tokens) and not self.stopped:
            self._decode(final=True)  # the last bytes, even if they end inside a character
        self._emit(final=self.done is not None)

    def _decode(self, final: bool = False):
        decode = self.tokenizer.decode
        before = decode(self.tokens[self.prefix:self.read], skip_special_tokens=True)
        after = decode(self.tokens[self.prefix:], skip_special_tokens=True)
        if len(after) > len(before) and (final or not after.endswith("\ufffd")):  # a whole character more
            new = after[len(before):]
            self.prefix, self.read = self.read, len(self.tokens)
            start = max(0, len(self.text) - max((len(x) for x in self.stop), default=0))
            self.text += new
            for stop in self.stop:
                at = self.text.find(stop, start)
                if at >= 0:
                    self.text = self.text[:at]
                    self.done = "stop"
                    self.stopped = True
                    break

    def _emit(self, final: bool):
        end = len(self.text)
        if not final:  # hold back what may still become a stop string
            for stop in self.stop:
                for k in range(min(len(stop) - 1, len(self.text)), 0, -1):
                    if self.text.endswith(stop[:k]):
                        end = min(end, len(self.text) - k)
                        break
        if end > self.sent:
            self.job.sink.put(("delta", self.index, self.text[self.sent:end]))
            self.sent = end


class _Batch:
    """One model's running rows: their shared KV cache, mask, positions and last tokens."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.params = forward_params(model)
        self.rows: list[_Row] = []
        self.cache = None
        self.mask = None  # (rows, cache length), 1 = token, 0 = left padding
        self.positions = None  # (rows,) the position of each row's next token
        self.last = None  # (rows,) the token each row feeds next

    def join(self, rows: list[_Row], cache, mask, positions, last):
        if not self.rows:
            self.rows, self.cache, self.mask, self.positions, self.last = rows, cache, mask, positions, last
            return
        old, new = self.mask.shape[1], mask.shape[1]
        length = max(old, new)

        def left_pad(t, by, dim_from_end):  # pad `by` slots before dimension -dim_from_end
            return t if by == 0 else F.pad(t, (0, 0) * (dim_from_end - 1) + (by, 0))

        layers = [(torch.cat([left_pad(k0, length - old, 2), left_pad(k1, length - new, 2)]),
                   torch.cat([left_pad(v0, length - old, 2), left_pad(v1, length - new, 2)]))
                  for (k0, v0), (k1, v1) in zip(self.cache, cache)]
        self.cache = DynamicCache.from_legacy_cache(layers)
        self.mask = torch.cat([left_pad(self.mask, length - old, 1), left_pad(mask, length - new, 1)])
        self.positions = torch.cat([self.positions, positions])
        self.last = torch.cat([self.last, last])
        self.rows = self.rows + rows

    def keep(self, alive: list[int]):
        """Keep only the rows at ``alive``; cut the key columns that only padding fills now."""
        if len(alive) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in alive]
        if not alive:
            self.cache = self.mask = self.positions = self.last = None
            return
        index = torch.tensor(alive, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask, self.positions, self.last = self.mask[index], self.positions[index], self.last[index]
        first = int(self.mask.any(dim=0).int().argmax())
        if first > 0:
            self.cache = DynamicCache.from_legacy_cache([(k[:, :, first:], v[:, :, first:]) for k, v in self.cache])
            self.mask = self.mask[:, first:]

    def step(self) -> torch.Tensor:
        """The model on every row's last token: (rows, vocab) float logits."""
        rows, length = self.mask.shape
        mask = torch.cat([self.mask, self.mask.new_ones((rows, 1))], dim=1)
        kwargs = {"input_ids": self.last[:, None], "position_ids": self.positions[:, None],
                  "cache_position": torch.tensor([length], device=mask.device),
                  "attention_mask": None if bool(mask.all()) else mask}
        kwargs = {k: v for k, v in kwargs.items() if k in self.params}
        if "logits_to_keep" in self.params:
            kwargs["logits_to_keep"] = 1
        with decoding(rows):
            out = self.model(past_key_values=self.cache, use_cache=True, return_dict=True, **kwargs)
        self.cache = out.past_key_values
        self.mask = mask
        self.positions = self.positions + 1
        return out.logits[:, -1, :].float()


class Engine:
    """The worker thread and its queue. ``submit`` from any thread; ``stop`` ends the thread."""

    def __init__(self, store: ModelStore, max_batch: int = 8, max_queue: int = 64):
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1.")
        self.store, self.max_batch, self.max_queue = store, max_batch, max_queue
        self._inbox: queue.Queue = queue.Queue()
        self._waiting = 0  # submitted, not yet started
        self._lock = threading.Lock()
        self._pending: collections.deque = collections.deque()
        self._batches: dict[int, _Batch] = {}
        self._thread = threading.Thread(target=self._run, name="leanformers-engine", daemon=True)
        self._stopping = False
        self.steps = 0

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping = True
        self._inbox.put(None)
        self._thread.join(timeout=30)

    def submit(self, job):
        with self._lock:
            if self._waiting >= self.max_queue:
                raise QueueFull(self.max_queue)
            self._waiting += 1
        self._inbox.put(job)

    def call(self, fn, *inputs, group=None) -> concurrent.futures.Future:
        job = CallJob(fn, inputs, group)
        self.submit(job)
        return job.future

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def active_rows(self) -> int:
        return sum(len(b.rows) for b in self._batches.values())

    # ---- the worker --------------------------------------------------------------------------------
    def _run(self):
        with torch.inference_mode():
            while not self._stopping:
                busy = any(b.rows for b in self._batches.values()) or self._pending
                try:  # wait for work only when there is nothing to step
                    job = self._inbox.get_nowait() if busy else self._inbox.get(timeout=1.0)
                except queue.Empty:
                    job = None
                while job is not None:
                    self._pending.append(job)
                    try:
                        job = self._inbox.get_nowait()
                    except queue.Empty:
                        job = None
                if self._stopping:
                    break
                self._start_pending()
                for key, batch in list(self._batches.items()):
                    if batch.rows:
                        self._step(batch)
                    if not batch.rows:  # every row left: drop the batch (and its model reference)
                        del self._batches[key]
        for job in list(self._pending):
            self._fail(job, RequestError("The server is shutting down.", status=503, type="server_error"))

    def _started(self):
        with self._lock:
            self._waiting -= 1

    def _fail(self, job, error: Exception):
        if not isinstance(error, RequestError):
            logger.exception("leanformers serve: a request failed", exc_info=error)
            error = RequestError(f"{type(error).__name__}: {error}", status=500, type="server_error")
        if isinstance(job, CallJob):
            if not job.future.done():
                job.future.set_exception(error)
        elif job is not None:
            job.sink.put(("error", error))

    def _start_pending(self):
        waiting = collections.deque()
        while self._pending:
            job = self._pending.popleft()
            if job is None:
                continue
            if job.cancelled:
                self._started()
                continue
            if isinstance(job, CallJob):
                group = [job]
                if job.group is not None:  # the same call waiting more than once: one batch
                    group += [j for j in self._pending if isinstance(j, CallJob) and j.group == job.group]
                    self._pending = collections.deque(j for j in self._pending if j not in group)
                for _ in group:
                    self._started()
                self._run_call(group)
                continue
            try:
                if not self._admit(job):
                    waiting.append(job)
                    continue
            except Exception as e:  # noqa: BLE001 - one request's failure must not stop the server
                self._fail(job, e)
            self._started()
        self._pending = waiting

    def _run_call(self, group: list[CallJob]):
        try:
            if group[0].group is None:
                results = [group[0].fn(self.store, *group[0].inputs)]
            else:
                results = group[0].fn(self.store, [j.inputs[0] for j in group])
        except Exception as e:  # noqa: BLE001
            for job in group:
                self._fail(job, e if isinstance(e, RequestError) else _as_request_error(e))
            return
        for job, result in zip(group, results):
            if not job.future.done():
                job.future.set_result(result)

    # ---- generation ----------------------------------------------------------------------------
    def _admit(self, job: GenerationJob) -> bool:
        """Start ``job`` if its model's batch has room (False: it waits)."""
        try:
            ident, pipe = self.store.generator(job.model)
        except ModelNotFound as e:
            raise RequestError(str(e), status=404, param="model", code="model_not_found") from None
        except (ValueError, TypeError) as e:  # e.g. a classifier named for a chat
            raise RequestError(f"The model {job.model!r} cannot generate text: {e}", param="model") from None
        model, tokenizer = pipe.model, pipe.tokenizer
        job.model_id = ident
        batch = self._batches.get(id(model))
        n = job.sampling.n
        if n > self.max_batch:
            raise RequestError(f"n={n} is more than this server decodes at once (--max-batch {self.max_batch}).",
                               param="n")
        if batch is not None and batch.rows and len(batch.rows) + n > self.max_batch:
            return False
        ids = self._tokenize(job, tokenizer)
        if getattr(model.config, "is_encoder_decoder", False):
            self._run_alone(job, model, tokenizer, ids)
            return True
        plan, kwargs = self._plan(job, model, tokenizer, ids)
        state = DecodeState(model, plan)
        logits = state.prefill().logits[:, -1, :].float()
        job.sink.put(("start", len(ids)))
        generator = None
        if job.sampling.seed is not None:
            generator = torch.Generator(device=logits.device).manual_seed(job.sampling.seed)
        rows = [_Row(job, i, plan, ids, generator, tokenizer) for i in range(n)]
        # the first token of each row, exactly as generate() picks it after its prefill
        tokens = [row.choose(logits[i:i + 1]) for i, row in enumerate(rows)]
        length = plan.prompt_length
        mask = state.mask[:, :length] if state.mask is not None else torch.ones((n, length), dtype=torch.long,
                                                                                device=logits.device)
        positions = (state.positions[:, length] if state.positions is not None
                     else torch.full((n,), length, device=logits.device))
        for row, token in zip(rows, tokens):
            row.accept(token)
        if batch is None:
            batch = self._batches[id(model)] = _Batch(model, tokenizer)
        batch.join(rows, state.cache, mask.long(), positions.long(),
                   torch.tensor(tokens, dtype=torch.long, device=logits.device))
        self._retire(batch)
        return True

    def _tokenize(self, job: GenerationJob, tokenizer) -> list[int]:
        if job.chat:
            if not getattr(tokenizer, "chat_template", None):
                raise RequestError(f"The model {job.model_id!r} has no chat template, so messages cannot be "
                                   f"rendered; use /v1/completions with a plain prompt.", param="messages")
            try:
                encoded = tokenizer.apply_chat_template(job.prompt, add_generation_prompt=True, return_dict=True)
            except Exception as e:  # noqa: BLE001 - a template that rejects these messages
                raise RequestError(f"The chat template could not render these messages: {e}",
                                   param="messages") from None
            ids = encoded["input_ids"]
        elif isinstance(job.prompt, str):
            ids = tokenizer(job.prompt, add_special_tokens=job.add_special_tokens)["input_ids"]
        else:
            ids = list(job.prompt)
            vocab = len(tokenizer)
            if any(not 0 <= i < vocab for i in ids):
                raise RequestError(f"Token ids must be in [0, {vocab}).", param="prompt")
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        if ids and isinstance(ids[0], list):
            ids = ids[0]
        if not ids:
            raise RequestError("The prompt is empty (no tokens).", param="prompt")
        return [int(i) for i in ids]

    def _plan(self, job, model, tokenizer, ids):
        s = job.sampling
        context = context_length(model.config)
        if s.max_tokens is not None:
            max_new = s.max_tokens
        elif context is not None:
            max_new = context - len(ids)
        else:
            max_new = 256
        if context is not None and len(ids) + max_new > context:
            raise RequestError(f"This model's maximum context length is {context} tokens. However, you requested "
                               f"{len(ids) + max_new} tokens ({len(ids)} in the prompt, {max_new} for the "
                               f"completion). Please reduce the length of the prompt or of max_tokens.",
                               param="max_tokens" if s.max_tokens is not None else "messages",
                               code="context_length_exceeded")
        kwargs = s.generate_kwargs()
        kwargs["max_new_tokens"] = max_new
        if getattr(tokenizer, "pad_token_id", None) is not None and model.generation_config.pad_token_id is None:
            kwargs["pad_token_id"] = tokenizer.pad_token_id
        input_ids = torch.tensor([ids] * s.n, dtype=torch.long, device=model.device)
        try:
            plan = prepare(model, input_ids, None, None, None, None,
                           dict(kwargs, attention_mask=torch.ones_like(input_ids)))
        except (ValueError, TypeError, NotImplementedError) as e:
            raise RequestError(str(e)) from None
        return plan, kwargs

    def _run_alone(self, job, model, tokenizer, ids):
        """An encoder-decoder request: one generate() call, its text in one piece."""
        s = job.sampling
        kwargs = s.generate_kwargs()
        kwargs["max_new_tokens"] = s.max_tokens or 256
        if s.n > 1:
            kwargs["num_return_sequences"] = s.n
        if s.seed is not None:
            torch.manual_seed(s.seed)
        try:
            out = model.generate(torch.tensor([ids], device=model.device), **kwargs)
        except (ValueError, TypeError, NotImplementedError) as e:
            raise RequestError(str(e)) from None
        job.sink.put(("start", len(ids)))
        completion = 0
        for i, sequence in enumerate(out.tolist()):
            text = tokenizer.decode(sequence, skip_special_tokens=True)
            for stop in s.stop:
                text = text.split(stop)[0] if stop else text
            tokens = len(sequence) - 1
            completion += tokens
            job.sink.put(("delta", i, text))
            job.sink.put(("finish", i, "length" if tokens >= kwargs["max_new_tokens"] else "stop", tokens))
        job.sink.put(("end", {"prompt_tokens": len(ids), "completion_tokens": completion,
                              "total_tokens": len(ids) + completion}))

    def _step(self, batch: _Batch):
        try:
            self._retire(batch)
            if not batch.rows:
                return
            logits = batch.step()
            self.steps += 1
            greedy = None
            tokens = []
            for i, row in enumerate(batch.rows):
                if row.simple:
                    if greedy is None:  # one argmax and one host copy for all greedy rows
                        greedy = logits.argmax(dim=-1).tolist()
                    tokens.append(greedy[i])
                else:
                    tokens.append(row.choose(logits[i:i + 1]))
            for row, token in zip(batch.rows, tokens):
                row.accept(token)
            batch.last = torch.tensor(tokens, dtype=torch.long, device=logits.device)
            self._retire(batch)
        except Exception as e:  # noqa: BLE001 - fail this batch's requests, keep serving
            for job in {id(r.job): r.job for r in batch.rows}.values():
                self._fail(job, e)
            batch.keep([])

    def _retire(self, batch: _Batch):
        """Finished and cancelled rows leave; a job whose last row finished gets its "end"."""
        alive = []
        for i, row in enumerate(batch.rows):
            if row.job.cancelled:
                continue
            if row.done is None:
                alive.append(i)
                continue
            job = row.job
            job.sink.put(("finish", row.index, row.done, len(row.generated)))
            job.finished += 1
            job.completion += len(row.generated)
            if job.finished == job.sampling.n:
                prompt = row.plan.prompt_length
                job.sink.put(("end", {"prompt_tokens": prompt, "completion_tokens": job.completion,
                                      "total_tokens": prompt + job.completion}))
        batch.keep(alive)


def _as_request_error(e: Exception) -> Exception:
    """Bad input found by a pipeline (a ValueError/TypeError naming the problem) is the client's."""
    if isinstance(e, ModelNotFound):
        return RequestError(str(e), status=404, param="model", code="model_not_found")
    if isinstance(e, KeyError):  # check_task: an unknown task
        return RequestError(str(e.args[0]) if e.args else str(e), status=404, code="task_not_found")
    if isinstance(e, (ValueError, TypeError)):
        return RequestError(str(e))
    return e


def group_key(*parts) -> str:
    return json.dumps(parts, sort_keys=True, default=str)
