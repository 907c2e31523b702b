"""TextStreamer / TextIteratorStreamer emit exactly the reference's text pieces."""

import threading

import pytest
import torch

transformers = pytest.importorskip("transformers")


class Recording:
    """Mixin that records on_finalized_text calls instead of printing."""

    def on_finalized_text(self, text, stream_end=False):
        self.pieces = getattr(self, "pieces", []) + [(text, stream_end)]


def test_text_streamer_pieces_match_reference(tiny_gpt2, models):
    import leanformers
    from leanformers import TextStreamer

    ref_model, lean = models
    tokenizer = leanformers.AutoTokenizer.from_pretrained(tiny_gpt2)
    ref_tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_gpt2)
    ids = tokenizer(["hello world, this"], return_tensors="pt")["input_ids"]
    for skip_prompt in (False, True):
        ours = type("Ours", (Recording, TextStreamer), {})(tokenizer, skip_prompt=skip_prompt, skip_special_tokens=True)
        theirs = type("Theirs", (Recording, transformers.TextStreamer), {})(ref_tokenizer, skip_prompt=skip_prompt,
                                                                            skip_special_tokens=True)
        out = lean.generate(ids, max_new_tokens=40, do_sample=False, streamer=ours)
        ref_model.generate(ids, max_new_tokens=40, do_sample=False, streamer=theirs)
        assert ours.pieces == theirs.pieces
        assert len(ours.pieces) > 5 and ours.pieces[-1][1] is True
        text = "".join(piece for piece, _ in ours.pieces)
        start = ids.shape[1] if skip_prompt else 0
        assert text == tokenizer.decode(out[0, start:], skip_special_tokens=True)


def test_text_streamer_prints(tiny_gpt2, models, capsys):
    import leanformers

    _, lean = models
    tokenizer = leanformers.AutoTokenizer.from_pretrained(tiny_gpt2)
    ids = tokenizer(["the quick"], return_tensors="pt")["input_ids"]
    out = lean.generate(ids, max_new_tokens=15, do_sample=False, streamer=leanformers.TextStreamer(tokenizer))
    assert capsys.readouterr().out == tokenizer.decode(out[0]) + "\n"


def test_text_iterator_streamer_in_a_thread(tiny_gpt2, models):
    import leanformers

    _, lean = models
    tokenizer = leanformers.AutoTokenizer.from_pretrained(tiny_gpt2)
    ids = tokenizer(["stop here"], return_tensors="pt")["input_ids"]
    streamer = leanformers.TextIteratorStreamer(tokenizer, skip_prompt=True, timeout=60)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault(
        "out", lean.generate(ids, max_new_tokens=30, do_sample=False, streamer=streamer)))
    thread.start()
    pieces = list(streamer)
    thread.join()
    assert "".join(pieces) == tokenizer.decode(result["out"][0, ids.shape[1]:])


def test_streamer_refuses_batches(models):
    import leanformers

    _, lean = models
    with pytest.raises(ValueError, match="one sequence"):
        lean.generate(torch.ones(2, 3, dtype=torch.long), max_new_tokens=2, streamer=leanformers.TextStreamer(None))
