"""Streamers: show text while ``generate`` runs. ``generate`` calls ``put(token_ids)`` with the prompt
first and then each new token, and ``end()`` once at the end."""

from __future__ import annotations

import unicodedata
from queue import Queue

__all__ = ["BaseStreamer", "TextStreamer", "TextIteratorStreamer"]


class BaseStreamer:
    def put(self, value):
        raise NotImplementedError

    def end(self):
        raise NotImplementedError


def _is_cjk(ch: str) -> bool:
    """CJK ideographs are words by themselves (no spaces between them), so they print at once."""
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class TextStreamer(BaseStreamer):
    """Print the generated text to stdout as it is produced, a word at a time.

    Text is printed only up to the last space, because the next token may still change the word
    being written (or complete a multi-byte character); a newline, a CJK character, or text made
    only of letters, marks, digits and spaces is printed straight away. ``skip_prompt`` leaves the
    prompt out; ``decode_kwargs`` go to ``tokenizer.decode`` (e.g. ``skip_special_tokens=True``).
    Works with one sequence (batch size 1).
    """

    def __init__(self, tokenizer, skip_prompt: bool = False, **decode_kwargs):
        self.tokenizer = tokenizer
        self.skip_prompt = skip_prompt
        self.decode_kwargs = decode_kwargs
        self.token_cache: list[int] = []  # tokens of the text not yet final
        self.print_len = 0  # how much of their decoded text is already out
        self.next_tokens_are_prompt = True

    def _decode(self, ids) -> str:
        return self.tokenizer.decode(ids, **self.decode_kwargs)

    def put(self, value):
        if value.dim() > 1:
            if value.shape[0] > 1:
                raise ValueError("TextStreamer streams one sequence; generate with batch size 1 (and "
                                 "num_beams=1, num_return_sequences=1) to use it.")
            value = value[0]
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.token_cache.extend(value.tolist())
        text = self._decode(self.token_cache)
        pending = text[self.print_len:]
        if text.endswith("\n"):
            # a line is complete: restart the cache from its last token
            out = pending
            self.token_cache = self.token_cache[-1:]
            self.print_len = len(self._decode(self.token_cache[-1]))
        elif text and _is_cjk(text[-1]):
            out = pending
            self.print_len += len(out)
        elif all(ch.isspace() or unicodedata.category(ch)[0] in "LMN" for ch in pending):
            out = pending
            self.print_len += len(out)
        else:
            out = text[self.print_len: text.rfind(" ") + 1]
            self.print_len += len(out)
        self.on_finalized_text(out)

    def end(self):
        out = ""
        if self.token_cache:
            out = self._decode(self.token_cache)[self.print_len:]
        self.token_cache = []
        self.print_len = 0
        self.next_tokens_are_prompt = True
        self.on_finalized_text(out, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False):
        print(text, flush=True, end=None if stream_end else "")


class TextIteratorStreamer(TextStreamer):
    """Yield the text pieces from another thread: run ``generate`` in a thread, iterate here.

    ``timeout`` (seconds) bounds each wait for the next piece (``queue.Empty`` is raised past it).
    """

    def __init__(self, tokenizer, skip_prompt: bool = False, timeout: float | None = None, **decode_kwargs):
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: Queue = Queue()
        self.stop_signal = None
        self.timeout = timeout

    def on_finalized_text(self, text: str, stream_end: bool = False):
        self.text_queue.put(text, timeout=self.timeout)
        if stream_end:
            self.text_queue.put(self.stop_signal, timeout=self.timeout)

    def __iter__(self):
        return self

    def __next__(self):
        value = self.text_queue.get(timeout=self.timeout)
        if value == self.stop_signal:
            raise StopIteration
        return value
