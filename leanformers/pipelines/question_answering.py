"""question-answering: the span of the context that answers the question, shaped as transformers 4.57's.

- ``pipe(question="Where?", context="...")`` (or ``pipe({"question": ..., "context": ...})``, or
  ``pipe("Where?", "...")``) → ``{'score', 'start', 'end', 'answer'}``, ``start``/``end`` character
  positions in the context; with ``top_k`` > 1, a list of such dicts, best first;
- lists of questions (with one context or as many contexts), or lists of dicts → one result each.

A context longer than the model takes is cut into windows of ``max_seq_len`` tokens (question
included; default min(384, the tokenizer's model_max_length)) overlapping by ``doc_stride`` tokens
(default min(max_seq_len // 2, 128)); every window's spans compete, and the same answer text found in
two windows adds up its scores (as the reference). A span is at most ``max_answer_len`` tokens (15);
``align_to_words`` (default True) widens it to whole words; ``handle_impossible_answer=True`` lets the
empty answer ``{'start': 0, 'end': 0, 'answer': ''}`` compete with the null score. As in the reference
with a fast tokenizer, ``max_question_len`` is accepted but does not cut the question.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from .base import _is_stream
from .chunk import ChunkPipeline

__all__ = ["QuestionAnsweringPipeline"]

_USAGE = "pipe(question='Who wrote it?', context='It was written by ...')"


def _example(item) -> dict:
    """A {"question", "context"} dict, checked."""
    if not isinstance(item, dict):
        raise ValueError(f"question-answering takes {_USAGE}, a {{'question': ..., 'context': ...}} dict or a list of "
                         f"them; got {type(item).__name__}: {item!r}.")
    for key in ("question", "context"):
        if key not in item:
            other = "context" if key == "question" else "question"
            raise KeyError(f"This input has a {other} but no {key}: question-answering needs both, as "
                           f"{{'question': ..., 'context': ...}} or {_USAGE}.")
        if item[key] is None:
            raise ValueError(f"`{key}` cannot be None: give the {key} as a string.")
        if isinstance(item[key], str) and len(item[key]) == 0:
            raise ValueError(f"`{key}` cannot be empty: give the {key} as a non-empty string.")
        if not isinstance(item[key], str):
            raise TypeError(f"`{key}` must be a string, not {type(item[key]).__name__}.")
    return {"question": item["question"], "context": item["context"]}


def _examples(args, question, context):
    """The call's inputs as a list of examples (the reference's spellings)."""
    if args:
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            return [{"question": args[0], "context": args[1]}]
        inputs = args[0] if len(args) == 1 else list(args)
    elif question is not None and context is not None:
        if isinstance(question, list) and isinstance(context, str):
            inputs = [{"question": q, "context": context} for q in question]
        elif isinstance(question, list) and isinstance(context, list):
            if len(question) != len(context):
                raise ValueError(f"{len(question)} questions and {len(context)} contexts: give one context, or "
                                 f"one per question.")
            inputs = [{"question": q, "context": c} for q, c in zip(question, context)]
        elif isinstance(question, str) and isinstance(context, str):
            inputs = [{"question": question, "context": context}]
        else:
            raise ValueError("question and context must be strings, or lists of strings (one context may "
                             "serve several questions).")
    elif question is not None or context is not None:
        missing = "context" if question is not None else "question"
        raise ValueError(f"question-answering needs a question and a context, and no {missing} was given: "
                         f"{_USAGE}.")
    else:
        raise ValueError(f"question-answering needs a question and a context: {_USAGE}.")
    if isinstance(inputs, dict):
        inputs = [inputs]
    if _is_stream(inputs):  # a generator or dataset: checked lazily, answered as a stream
        return (_example(item) for item in inputs)
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(f"question-answering takes {_USAGE}, a {{'question': ..., 'context': ...}} dict or a list "
                         f"of them; got {type(inputs).__name__}.")
    return [_example(item) for item in inputs]


_BANDS: dict = {}


def _band(length: int, max_answer_len: int):
    """True where end - start lies in [0, max_answer_len): the mask of np.tril(np.triu(.), max_answer_len - 1),
    made once per (window length, max_answer_len)."""
    key = (length, max_answer_len)
    if key not in _BANDS:
        offset = np.arange(length)[None, :] - np.arange(length)[:, None]
        _BANDS[key] = (offset >= 0) & (offset < max_answer_len)
    return _BANDS[key]


def _best_spans(start, end, allowed, top_k, max_answer_len):
    """(starts, ends, scores) of the ``top_k`` spans by start prob x end prob, a span at most
    ``max_answer_len`` tokens and ending after it starts. The numpy steps match the reference's one
    for one, so that equal scores (e.g. the zeros of a
    short context) break ties the same way."""
    outer = np.matmul(start[:, :, None], end[:, None, :])
    candidates = np.where(_band(outer.shape[-1], max_answer_len), outer, outer.dtype.type(0))
    flat = candidates.ravel()
    if top_k == 1:
        order = [np.argmax(flat)]
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        negative = -flat
        best = np.argpartition(negative, top_k)[:top_k]
        order = best[np.argsort(negative[best])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    # membership in np.nonzero's (rows, columns): position 0 passes through the row indices, as in
    # the reference (it only ever holds zero-score spans)
    member = np.zeros(candidates.shape[-1], dtype=bool)
    member[np.concatenate(np.nonzero(allowed))] = True
    keep = member[starts] & member[ends]
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


class QuestionAnsweringPipeline(ChunkPipeline):
    """Extractive question answering with any ``*ForQuestionAnswering`` model; see the module docstring.

    Parameters (constructor or call): ``top_k`` (1), ``doc_stride``, ``max_seq_len``, ``max_question_len``,
    ``max_answer_len`` (15), ``handle_impossible_answer`` (False), ``align_to_words`` (True), ``padding``.
    """

    def _sanitize_parameters(self, padding=None, topk=None, top_k=None, doc_stride=None, max_answer_len=None,
                             max_seq_len=None, max_question_len=None, handle_impossible_answer=None,
                             align_to_words=None):
        preprocess_params = {}
        for name, value in (("padding", padding), ("doc_stride", doc_stride), ("max_seq_len", max_seq_len),
                            ("max_question_len", max_question_len)):
            if value is not None:
                if name != "padding" and (not isinstance(value, int) or value < (0 if name == "doc_stride" else 1)):
                    raise ValueError(f"{name} must be a positive integer, not {value!r}.")
                preprocess_params[name] = value
        postprocess_params = {}
        top_k = top_k if top_k is not None else topk
        if top_k is not None:
            if top_k < 1:
                raise ValueError(f"top_k parameter should be >= 1 (got {top_k})")
            postprocess_params["top_k"] = top_k
        if max_answer_len is not None:
            if max_answer_len < 1:
                raise ValueError(f"max_answer_len parameter should be >= 1 (got {max_answer_len})")
            postprocess_params["max_answer_len"] = max_answer_len
        if handle_impossible_answer is not None:
            postprocess_params["handle_impossible_answer"] = handle_impossible_answer
        if align_to_words is not None:
            postprocess_params["align_to_words"] = align_to_words
        return preprocess_params, {}, postprocess_params

    def __call__(self, *args, question=None, context=None, **kwargs):
        """Answer one example or several; see the module docstring for the accepted spellings."""
        batch_size = kwargs.pop("batch_size", None)
        examples = _examples(args, question, context)
        inputs = examples[0] if isinstance(examples, list) and len(examples) == 1 else examples
        return super().__call__(inputs, batch_size=batch_size, **kwargs)

    def _is_single_input(self, inputs) -> bool:
        return isinstance(inputs, dict)

    def preprocess(self, example, padding="do_not_pad", doc_stride=None, max_question_len=64, max_seq_len=None):
        if max_seq_len is None:
            max_seq_len = min(self.tokenizer.model_max_length, 384)
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError(f"`doc_stride` ({doc_stride}) is larger than `max_seq_len` ({max_seq_len})")
        question_first = self.tokenizer.padding_side == "right"
        question, context = example["question"], example["context"]
        encoded = self.tokenizer(
            text=question if question_first else context, text_pair=context if question_first else question,
            padding=padding, truncation="only_second" if question_first else "only_first", max_length=max_seq_len,
            stride=doc_stride, return_token_type_ids=True, return_overflowing_tokens=True,
            return_offsets_mapping=True, return_special_tokens_mask=True)
        model_keys = [k for k in self.tokenizer.model_input_names if k in encoded] + \
            (["token_type_ids"] if "token_type_ids" not in self.tokenizer.model_input_names else [])
        cls_id = self.tokenizer.cls_token_id
        rows = []
        for span in range(len(encoded["input_ids"])):
            ids = encoded["input_ids"][span]
            # tokens that cannot be in the answer: all but the context's, except the CLS token (the
            # "no answer" position)
            if question_first:
                p_mask = [0 if (s == 1 or (cls_id is not None and t == cls_id)) else 1
                          for s, t in zip(encoded.sequence_ids(span), ids)]
            else:
                p_mask = [0] * len(ids)
            row = {key: torch.tensor([encoded[key][span]], dtype=torch.long) for key in model_keys}
            row["p_mask"] = torch.tensor([p_mask], dtype=torch.long)
            row["encoding"] = encoded[span]
            row["context"] = context
            rows.append(row)
        return rows

    def _forward(self, rows):
        model_inputs = {k: rows[k] for k in self.tokenizer.model_input_names if k in rows}
        if "use_cache" in inspect.signature(self.model.forward).parameters:
            model_inputs["use_cache"] = False
        outputs = self.model(**model_inputs)
        return {**rows, "start_logits": outputs["start_logits"], "end_logits": outputs["end_logits"]}

    def postprocess(self, rows, top_k=1, handle_impossible_answer=False, max_answer_len=15, align_to_words=True):
        null_score = 1000000.0
        answers = []
        question_first = self.tokenizer.padding_side == "right"
        for row in rows:
            start, end = row["start_logits"].float().numpy(), row["end_logits"].float().numpy()
            allowed = np.abs(row["p_mask"].numpy() - 1)
            if "attention_mask" in row:
                allowed = allowed & row["attention_mask"].numpy()
            start = np.where(allowed == 0, -10000.0, start)
            end = np.where(allowed == 0, -10000.0, end)
            start = np.exp(start - start.max(axis=-1, keepdims=True))
            start = start / start.sum()
            end = np.exp(end - end.max(axis=-1, keepdims=True))
            end = end / end.sum()
            if handle_impossible_answer:
                null_score = min(null_score, (start[0, 0] * end[0, 0]).item())
            start[0, 0] = end[0, 0] = 0.0
            # more candidates than asked: aligning to words merges some of them
            candidates = top_k * 2 + 10 if align_to_words else top_k
            starts, ends, scores = _best_spans(start, end, allowed, candidates, max_answer_len)
            encoding, context = row["encoding"], row["context"]
            # left padding (the tokenizer's padding="max_length" with padding_side="left") shifts tokens
            shift = int((row["input_ids"] == self.tokenizer.pad_token_id).sum()) \
                if self.tokenizer.padding_side == "left" else 0
            words = _word_tokens(encoding, 1 if question_first else 0) if align_to_words else {}
            for s, e, score in zip(starts, ends, scores):
                first, last = self._char_span(encoding, words, int(s) - shift, int(e) - shift, align_to_words)
                text = context[first:last]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += score.item()
                else:
                    answers.append({"score": score.item(), "start": first, "end": last, "answer": text})
        if handle_impossible_answer:
            answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    @staticmethod
    def _char_span(encoding, words, s: int, e: int, align_to_words: bool) -> tuple[int, int]:
        """Character span of tokens s..e, widened to whole words when asked and possible. ``words`` maps a
        word of the context to its (first, last) token: one pass per window instead of the encoding's
        word_to_chars scanning the window for every candidate."""
        if align_to_words:
            start_word, end_word = encoding.token_to_word(s), encoding.token_to_word(e)
            if start_word is not None and end_word is not None:
                first, last = words.get(start_word), words.get(end_word)
                if first is not None and last is not None:
                    return encoding.offsets[first[0]][0], encoding.offsets[last[1]][1]
        return encoding.offsets[s][0], encoding.offsets[e][1]


def _word_tokens(encoding, sequence_index: int) -> dict:
    """{word: (first token, last token)} over one sequence of the encoding, as its word_to_tokens finds them."""
    words = {}
    for i in encoding.sequence_range(sequence_index):
        word = encoding.words[i]
        if word is not None:
            words[word] = (words[word][0], i) if word in words else (i, i)
    return words
