"""The tokenizer.json engine: leanformers' own counterpart of the `tokenizers` library's Tokenizer.

    text ─ added tokens split off ─ normalizer ─ pre-tokenizer ─ model ─ truncation
         ─ post-processor (special tokens, type ids) ─ padding ─> Encoding

The API mirrors `tokenizers.Tokenizer` (from_file / from_str / to_str / save, encode, encode_batch,
decode, truncation and padding settings, added tokens, vocabulary queries), and the results equal
the reference's: ids, tokens, offsets into the original string, word ids, masks, overflow windows.
Components live in normalizers.py, pre_tokenizers.py, models.py, processors.py and decoders.py.
"""

from __future__ import annotations

import gc
import json

from . import decoders, models, normalizers, pre_tokenizers, processors
from .added_vocabulary import AddedToken, AddedVocabulary
from .encoding import Encoding
from .schema import Regex, field

__all__ = ["Tokenizer", "Encoding", "AddedToken", "Regex"]

_STRATEGIES = {"longest_first": "LongestFirst", "only_first": "OnlyFirst", "only_second": "OnlySecond"}
_DIRECTIONS = {"right": "Right", "left": "Left"}
# Long texts are normalized in parts of about this many characters (see Tokenizer._chunk_chars):
# small enough that a rare non-ASCII character sends little text down the slow path.
_CHUNK_CHARS = 2048


class Tokenizer:
    def __init__(self, model: models.Model):
        if not isinstance(model, models.Model):
            raise TypeError(f"Tokenizer needs a model (WordPiece, BPE, Unigram, WordLevel), got {type(model).__name__}")
        self._model = model
        self._normalizer = None
        self.pre_tokenizer = None
        self.post_processor = None
        self.decoder = None
        self._added = AddedVocabulary()
        self._truncation = None
        self._padding = None

    # ---- components (changing the model or normalizer re-reads the added tokens) --------------------
    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, value):
        self._model = value
        self._added.refresh(self._normalizer)

    @property
    def normalizer(self):
        return self._normalizer

    @normalizer.setter
    def normalizer(self, value):
        self._normalizer = value
        self._added.refresh(value)

    # ---- JSON ------------------------------------------------------------------------------------------
    @classmethod
    def from_str(cls, json_str: str) -> "Tokenizer":
        if not isinstance(json_str, (str, bytes, bytearray)):
            raise TypeError(f"Tokenizer.from_str expects a JSON string, got {type(json_str).__name__}")
        # Building the vocab and merge tables creates hundreds of thousands of objects; the cyclic
        # GC would rescan them again and again while they grow (none of them form cycles).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            try:
                data = json.loads(json_str)
            except json.JSONDecodeError as exc:
                raise ValueError(f"tokenizer.json is not valid JSON: {exc}") from None
            return cls.from_dict(data)
        finally:
            if gc_was_enabled:
                gc.enable()

    @classmethod
    def from_file(cls, path) -> "Tokenizer":
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            return cls.from_str(text)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    @classmethod
    def from_buffer(cls, buffer: bytes) -> "Tokenizer":
        return cls.from_str(bytes(buffer).decode("utf-8"))

    @classmethod
    def from_dict(cls, data: dict) -> "Tokenizer":
        if not isinstance(data, dict):
            raise ValueError("tokenizer.json must hold a JSON object at the top level")
        if "model" not in data or data["model"] is None:
            raise ValueError("tokenizer.json: missing field 'model'")
        tok = cls(models.model_from_dict(data["model"]))
        tok._normalizer = normalizers.normalizer_from_dict(data.get("normalizer"))
        tok.pre_tokenizer = pre_tokenizers.pre_tokenizer_from_dict(data.get("pre_tokenizer"))
        tok.post_processor = processors.post_processor_from_dict(data.get("post_processor"))
        tok.decoder = decoders.decoder_from_dict(data.get("decoder"))
        added = []
        for k, entry in enumerate(field(data, "added_tokens", "tokenizer.json", list, [])):
            where = f"added_tokens[{k}]"
            if not isinstance(entry, dict):
                raise ValueError(f"tokenizer.json: {where} must be an object")
            field(entry, "id", where, int)
            added.append(AddedToken(
                field(entry, "content", where, str), field(entry, "single_word", where, bool, False),
                field(entry, "lstrip", where, bool, False), field(entry, "rstrip", where, bool, False),
                field(entry, "normalized", where, bool, True), field(entry, "special", where, bool, False)))
        if added:
            tok._added.add(added, tok._model, tok._normalizer)
        trunc = data.get("truncation")
        if trunc is not None:
            w = "truncation"
            strategy = {v: k for k, v in _STRATEGIES.items()}.get(field(trunc, "strategy", w, str, "LongestFirst"))
            direction = {v: k for k, v in _DIRECTIONS.items()}.get(field(trunc, "direction", w, str, "Right"))
            if strategy is None or direction is None:
                raise ValueError(f"tokenizer.json: truncation has an unknown strategy or direction: {trunc!r:.120}")
            tok._truncation = {"max_length": field(trunc, "max_length", w, int), "stride": field(trunc, "stride", w, int, 0),
                               "strategy": strategy, "direction": direction}
        pad = data.get("padding")
        if pad is not None:
            w = "padding"
            strategy = field(pad, "strategy", w, (str, dict), "BatchLongest")
            length = strategy.get("Fixed") if isinstance(strategy, dict) else None
            direction = {v: k for k, v in _DIRECTIONS.items()}.get(field(pad, "direction", w, str, "Right"))
            if direction is None or (isinstance(strategy, str) and strategy != "BatchLongest"):
                raise ValueError(f"tokenizer.json: padding has an unknown strategy or direction: {pad!r:.120}")
            tok._padding = {"length": length, "pad_to_multiple_of": field(pad, "pad_to_multiple_of", w, int, None),
                            "pad_id": field(pad, "pad_id", w, int, 0), "pad_token": field(pad, "pad_token", w, str, "[PAD]"),
                            "pad_type_id": field(pad, "pad_type_id", w, int, 0), "direction": direction}
        return tok

    def to_dict(self) -> dict:
        trunc = pad = None
        if self._truncation:
            t = self._truncation
            trunc = {"direction": _DIRECTIONS[t["direction"]], "max_length": t["max_length"],
                     "strategy": _STRATEGIES[t["strategy"]], "stride": t["stride"]}
        if self._padding:
            p = self._padding
            pad = {"strategy": "BatchLongest" if p["length"] is None else {"Fixed": p["length"]},
                   "direction": _DIRECTIONS[p["direction"]], "pad_to_multiple_of": p["pad_to_multiple_of"],
                   "pad_id": p["pad_id"], "pad_type_id": p["pad_type_id"], "pad_token": p["pad_token"]}
        return {
            "version": "1.0",
            "truncation": trunc,
            "padding": pad,
            "added_tokens": [self._added.by_id[i].to_dict(i) for i in sorted(self._added.by_id)],
            "normalizer": self._normalizer.to_dict() if self._normalizer else None,
            "pre_tokenizer": self.pre_tokenizer.to_dict() if self.pre_tokenizer else None,
            "post_processor": self.post_processor.to_dict() if self.post_processor else None,
            "decoder": self.decoder.to_dict() if self.decoder else None,
            "model": self._model.to_dict(),
        }

    def to_str(self, pretty: bool = False) -> str:
        if pretty:
            return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def save(self, path, pretty: bool = True) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_str(pretty))

    # ---- encoding ------------------------------------------------------------------------------------
    def _chunk_chars(self, text: str) -> int:
        """How finely to cut a long text before normalizing it (0: not at all). Normalizing a whole
        10 MB text builds one alignment entry per character as soon as one character changes
        length; in parts, each part stays small and the (usual) ASCII parts take the fast paths.
        Cutting after a space or newline changes no result when the normalizer works character by
        character, the pre-tokenizer drops whitespace, and no normalized added token can span it."""
        if len(text) <= 2 * _CHUNK_CHARS:
            return 0
        norm, pre = self._normalizer, self.pre_tokenizer
        if norm is None or pre is None or not norm.char_local or not pre.splits_at_whitespace:
            return 0
        return _CHUNK_CHARS if self._added.cut_safe() else 0

    def _encode_text(self, text: str, type_id: int, word_index=None) -> Encoding:
        pieces = self._added.extract_and_normalize(self._normalizer, text, self._chunk_chars(text))
        out = ([], [], [], [])  # ids, tokens, offsets, word ids
        pre = self.pre_tokenizer
        w = 0
        for piece in pieces:
            if piece.tokens is None and pre is not None and piece.align is None:
                fast = pre.fast_words(piece.text)
                if fast is not None:
                    w = self._encode_words(out, piece, fast[0], fast[1], w, word_index)
                    continue
            words = pre.pre_tokenize([piece]) if pre is not None and piece.tokens is None else [piece]
            for p in words:
                self._encode_piece(out, p, w if word_index is None else word_index)
                w += 1
        ids, tokens, offsets, words = out
        n = len(ids)
        return Encoding(ids, [type_id] * n, tokens, words, offsets, [0] * n, [1] * n, [], {})

    def _encode_piece(self, out, p, w: int) -> None:
        """One pre-tokenized word (or a matched added token), offsets through its alignment."""
        ids, tokens, offsets, words = out
        if p.tokens is not None:
            for tid, value, (s, e) in p.tokens:
                ids.append(tid)
                tokens.append(value)
                offsets.append(p.original_span(s, e))
                words.append(w)
            return
        rid, rtok, rspans = self._model.tokenize(p.text)
        ids += rid
        tokens += rtok
        al = p.align
        if al is None:
            b = p.base
            offsets += [(s + b, e + b) for s, e in rspans] if b else rspans
        else:
            st = p.start
            offsets += [(al[s][0], al[e - 1][1]) if e > s else (st + s, st + e) for s, e in rspans]
        words += [w] * len(rid)

    def _encode_words(self, out, piece, found: list, contiguous: bool, w0: int, word_index) -> int:
        """The hot path: plain text cut into words by a regex, each word's tokens from the model's
        per-word cache, offsets shifted by where the word starts. Words are numbered from w0;
        returns the next number."""
        ids, tokens, offsets, words = out
        text = piece.text
        cache = self._model._cache
        tokenize = self._model.tokenize
        pos = 0
        base = piece.base
        for w, word in enumerate(found, w0):
            start = pos if contiguous else text.find(word, pos)
            pos = start + len(word)
            hit = cache.get(word)
            if hit is None:
                hit = tokenize(word)
            rid, rtok, rspans = hit
            sb = start + base
            wi = w if word_index is None else word_index
            if len(rid) == 1:
                ids.append(rid[0])
                tokens.append(rtok[0])
                a, b = rspans[0]
                offsets.append((a + sb, b + sb))
                words.append(wi)
            else:
                ids += rid
                tokens += rtok
                offsets += [(a + sb, b + sb) for a, b in rspans]
                words += [wi] * len(rid)
        return w0 + len(found)

    def _encode_input(self, seq, type_id: int, is_pretokenized: bool) -> Encoding:
        if is_pretokenized:
            if isinstance(seq, str) or not isinstance(seq, (list, tuple)):
                raise TypeError("with is_pretokenized=True each input must be a list of words (strings), "
                                f"got {type(seq).__name__}")
            parts = []
            for i, word in enumerate(seq):
                if not isinstance(word, str):
                    raise TypeError(f"pre-tokenized input: word {i} is {type(word).__name__}, expected str")
                parts.append(self._encode_text(word, type_id, i))
            return Encoding.merge(parts, False) if len(parts) != 1 else parts[0]
        if not isinstance(seq, str):
            raise TypeError(f"encode expects text as a str (or a pair of str), got {type(seq).__name__}; "
                            "pass is_pretokenized=True for lists of words")
        return self._encode_text(seq, type_id)

    def encode(self, sequence, pair=None, is_pretokenized: bool = False, add_special_tokens: bool = True) -> Encoding:
        return self._encode_one(sequence, pair, is_pretokenized, add_special_tokens, True)

    def _encode_one(self, sequence, pair, is_pretokenized: bool, add_special_tokens: bool, pad: bool) -> Encoding:
        enc = self._encode_input(sequence, 0, is_pretokenized)
        pair_enc = None if pair is None else self._encode_input(pair, 1, is_pretokenized)
        return self._post_process(enc, pair_enc, add_special_tokens, pad)

    def _split_batch_item(self, item, is_pretokenized: bool):
        if is_pretokenized:
            if (isinstance(item, (list, tuple)) and len(item) == 2
                    and all(isinstance(x, (list, tuple)) for x in item)):
                return item[0], item[1]
            return item, None
        if isinstance(item, str):
            return item, None
        if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            return item[0], item[1]
        raise TypeError("encode_batch expects each input to be a str or a (str, str) pair, "
                        f"got {type(item).__name__}: {item!r:.60}")

    def encode_batch(self, inputs, is_pretokenized: bool = False, add_special_tokens: bool = True) -> list:
        if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)):
            raise TypeError(f"encode_batch expects a list of inputs, got {type(inputs).__name__}")
        # A batch allocates a dozen lists and tuples per row, and none of them can form a cycle: with
        # the cyclic GC on, its young-generation passes would run every few rows and rescan what a
        # caller keeps (half the time of a caller holding many results). Paused, the survivors are
        # scanned once when it resumes.
        pause = len(inputs) > 1 and gc.isenabled()
        if pause:
            gc.disable()
        try:
            out = []
            for item in inputs:
                a, b = self._split_batch_item(item, is_pretokenized)
                # (each row is padded once, with the batch: padding it to its own length first, as
                # encode does, would change nothing)
                out.append(self._encode_one(a, b, is_pretokenized, add_special_tokens, False))
            if self._padding and out:
                self._pad_all(out)
        finally:
            if pause:
                gc.enable()
        return out

    encode_batch_fast = encode_batch

    def _pad_all(self, encodings: list) -> None:
        p = self._padding
        length = p["length"] if p["length"] is not None else max(len(e.ids) for e in encodings)
        m = p["pad_to_multiple_of"]
        if m and length % m:
            length += m - length % m
        for e in encodings:
            e.pad(length, p["direction"], p["pad_id"], p["pad_type_id"], p["pad_token"])

    def post_process(self, encoding: Encoding, pair: Encoding | None = None, add_special_tokens: bool = True) -> Encoding:
        return self._post_process(encoding.copy(), None if pair is None else pair.copy(), add_special_tokens)

    def _post_process(self, enc: Encoding, pair: Encoding | None, add_special_tokens: bool,
                      pad: bool = True) -> Encoding:
        if self._truncation:
            t = dict(self._truncation)
            n_added = self.num_special_tokens_to_add(pair is not None) if add_special_tokens else 0
            if n_added:
                t["max_length"] = max(t["max_length"] - n_added, 0)
            _truncate_pair(enc, pair, t)
        if self.post_processor is not None:
            final = self.post_processor.process(enc, pair, add_special_tokens)
        elif pair is not None:
            enc.set_sequence_id(0)
            pair.set_sequence_id(1)
            final = Encoding.merge([enc, pair], False)
        else:
            final = enc
        if pad and self._padding:
            self._pad_all([final])
        return final

    # ---- decoding --------------------------------------------------------------------------------------
    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TypeError(f"decode expects a list of token ids, got {type(ids).__name__}")
        tokens = []
        added = self._added
        for i in ids:
            if not isinstance(i, int) or isinstance(i, bool):
                try:
                    i = int(i)  # numpy / torch integers
                except (TypeError, ValueError):
                    raise TypeError(f"decode expects integer token ids, got {type(i).__name__}: {i!r:.40}") from None
            tok = self.id_to_token(i)
            if tok is None or (skip_special_tokens and tok in added.special_contents):
                continue
            tokens.append(tok)
        if self.decoder is not None:
            return self.decoder.decode(tokens)
        return " ".join(tokens)

    def decode_batch(self, sequences, skip_special_tokens: bool = True) -> list:
        return [self.decode(s, skip_special_tokens) for s in sequences]

    # ---- truncation and padding settings -------------------------------------------------------------
    def enable_truncation(self, max_length: int, stride: int = 0, strategy: str = "longest_first",
                          direction: str = "right") -> None:
        if strategy not in _STRATEGIES:
            raise ValueError(f"Unknown truncation strategy {strategy!r}: use one of {list(_STRATEGIES)}")
        if direction not in _DIRECTIONS:
            raise ValueError(f"Unknown truncation direction {direction!r}: use 'right' or 'left'")
        effective = max_length - self.num_special_tokens_to_add(False)
        # a max_length below the special tokens' count is not checked (the reference's unsigned
        # subtraction skips it): tokenizer(word, add_special_tokens=False, max_length=1) must work
        if 0 <= effective < stride:
            raise ValueError(f"truncation stride {stride} is greater than the effective max length {effective} "
                             f"(= max_length {max_length} - {max_length - effective} special tokens)")
        self._truncation = {"max_length": max_length, "stride": stride, "strategy": strategy, "direction": direction}

    def no_truncation(self) -> None:
        self._truncation = None

    @property
    def truncation(self):
        return dict(self._truncation) if self._truncation else None

    def enable_padding(self, direction: str = "right", pad_id: int = 0, pad_type_id: int = 0, pad_token: str = "[PAD]",
                       length: int | None = None, pad_to_multiple_of: int | None = None) -> None:
        if direction not in _DIRECTIONS:
            raise ValueError(f"Unknown padding direction {direction!r}: use 'right' or 'left'")
        self._padding = {"length": length, "pad_to_multiple_of": pad_to_multiple_of, "pad_id": pad_id,
                         "pad_token": pad_token, "pad_type_id": pad_type_id, "direction": direction}

    def no_padding(self) -> None:
        self._padding = None

    @property
    def padding(self):
        return dict(self._padding) if self._padding else None

    # ---- vocabulary -------------------------------------------------------------------------------------
    def _as_added(self, tokens, special: bool) -> list:
        if isinstance(tokens, (str, AddedToken)) or not isinstance(tokens, (list, tuple)):
            raise TypeError("add_tokens / add_special_tokens expect a list of str or AddedToken")
        out = []
        for t in tokens:
            if isinstance(t, str):
                out.append(AddedToken(t, special=special)._fixed())
            elif isinstance(t, AddedToken):
                out.append(t._fixed(special=True if special else None))
            else:
                raise TypeError(f"added tokens must be str or AddedToken, got {type(t).__name__}")
        return out

    def add_tokens(self, tokens) -> int:
        return self._added.add(self._as_added(tokens, False), self._model, self._normalizer)

    def add_special_tokens(self, tokens) -> int:
        return self._added.add(self._as_added(tokens, True), self._model, self._normalizer)

    def get_added_tokens_decoder(self) -> dict:
        return {i: self._added.by_id[i]._fixed() for i in sorted(self._added.by_id)}

    def token_to_id(self, token: str):
        i = self._added.by_content.get(token)
        return i if i is not None else self._model.token_to_id(token)

    def id_to_token(self, id: int):
        # (the reference answers with the normalized form for tokens matched after normalization)
        t = self._added.display.get(id)
        if t is not None:
            return t
        t = self._added.by_id.get(id)
        if t is not None:
            return t.content
        t = self._model.id_to_token(id)
        if t is None and not 0 <= id < 1 << 32:
            # The reference cannot even take these (its ids are u32: OverflowError); ids from the
            # vocabulary's size up to 2**32 - 1 it skips silently when decoding, and so do we.
            raise OverflowError(f"token id {id} is not a valid id: ids are 0 to {self.get_vocab_size() - 1} "
                                f"for this tokenizer (vocabulary size {self.get_vocab_size()}, added tokens included)")
        return t

    def get_vocab(self, with_added_tokens: bool = True) -> dict:
        vocab = self._model.get_vocab()
        if with_added_tokens:
            vocab.update(self._added.by_content)
        return vocab

    def get_vocab_size(self, with_added_tokens: bool = True) -> int:
        if not with_added_tokens:
            return self._model.get_vocab_size()
        return len(self.get_vocab(True))

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        return self.post_processor.added_tokens(is_pair) if self.post_processor is not None else 0

    def __repr__(self):
        return f"Tokenizer(model={self._model!r}, added_tokens={len(self._added)})"


def _truncate_pair(enc: Encoding, pair: Encoding | None, params: dict) -> None:
    """The reference's truncate_encodings: cut one or both sequences to fit max_length."""
    max_length, stride, direction = params["max_length"], params["stride"], params["direction"]
    if max_length == 0:
        enc.truncate(0, stride, direction)
        if pair is not None:
            pair.truncate(0, stride, direction)
        return
    total = len(enc.ids) + (len(pair.ids) if pair is not None else 0)
    if total <= max_length:
        return
    to_remove = total - max_length
    strategy = params["strategy"]
    if strategy == "longest_first":
        if pair is None:
            enc.truncate(total - to_remove, stride, direction)
            return
        n1, n2 = len(enc.ids), len(pair.ids)
        swap = n1 > n2
        if swap:
            n1, n2 = n2, n1
        if n1 > max_length:
            n2 = n1
        else:
            n2 = max(n1, max_length - n1)
        if n1 + n2 > max_length:
            n1 = max_length // 2
            n2 = n1 + max_length % 2
        if swap:
            n1, n2 = n2, n1
        enc.truncate(n1, stride, direction)
        pair.truncate(n2, stride, direction)
        return
    if strategy == "only_second" and pair is None:
        raise ValueError("truncation strategy 'only_second' needs a pair of sequences")
    target = enc if strategy == "only_first" else pair
    if len(target.ids) > to_remove:
        target.truncate(len(target.ids) - to_remove, stride, direction)
    else:
        raise ValueError("Truncation error: sequence to truncate is too short to respect the provided max_length")
