"""Marian (OPUS-MT): two SentencePiece models and one vocabulary, no tokenizer.json.

A Marian folder holds ``source.spm`` (segments the source text), ``target.spm`` (segments the
``text_target`` labels) and ``vocab.json`` (piece -> model id, shared by both sides; with
``separate_vocabs`` the target side reads ``target_vocab.json``). The ids are *not* the SentencePiece
ids: each piece is looked up in vocab.json, and a piece missing there is ``<unk>``. ``</s>`` ends
every sequence, and a text may start with a target-language code such as ``>>fra<<``, which is kept
as one token.

The reference runs the sentencepiece library on each side; here each side is our engine with a
pipeline that segments as SentencePiece does (its normalisation charsmap, spaces collapsed and
trimmed, a "▁" before each word, Viterbi over the model's normal pieces, runs of unknown characters
fused into one piece) and a model that maps the pieces through vocab.json. SentencePiece settings
this does not reproduce (BPE models, byte fallback, user-defined pieces, ...) raise instead.
"""

from __future__ import annotations

import json
import os
import shutil

from .. import legacy
from ..encoding import Encoding
from ..engine import Tokenizer
from ..models import Model, Unigram
from ..normalizers import Precompiled, Sequence, normalizer_from_dict, _spm_replace
from ..processors import post_processor_from_dict
from . import FamilyTokenizer

DEFAULTS = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
FILES = {"source_spm": "source.spm", "target_spm": "target.spm", "vocab": "vocab.json",
         "target_vocab_file": "target_vocab.json"}
_UNK_SENTINEL = "\ue000<unk>\ue000"  # the inner Unigram's unk entry: no text normalises to it
_SPACE = legacy.SPIECE_UNDERLINE


class _Side:
    """One SentencePiece model, read and checked: the pieces SentencePiece may output, and its settings."""

    def __init__(self, path: str):
        from ..sentencepiece_model import BPE, CONTROL, NORMAL, UNIGRAM, UNKNOWN, USER_DEFINED

        model, self.charsmap = legacy.read_sentencepiece(path)
        spec, norm = model.trainer_spec, model.normalizer_spec
        problems = []
        if spec.model_type != UNIGRAM:
            problems.append("a BPE model" if spec.model_type == BPE else f"model type {spec.model_type}")
        for name in ("byte_fallback", "treat_whitespace_as_suffix", "split_digits"):
            if getattr(spec, name):
                problems.append(f"{name}=true")
        if not norm.escape_whitespaces:
            problems.append("escape_whitespaces=false")
        if any(p.type == USER_DEFINED for p in model.pieces):
            problems.append("user-defined pieces")
        if problems:
            raise ValueError(f"{path} is a SentencePiece model with {', '.join(problems)}; leanformers reproduces "
                             f"Marian's SentencePiece segmentation for unigram models without these settings only.")
        self.path = path
        self.pieces = [(p.piece, p.score) for p in model.pieces if p.type == NORMAL]  # what Viterbi may pick
        self.known = {p.piece for p in model.pieces if p.type != UNKNOWN}
        self.unk_piece = next((p.piece for p in model.pieces if p.type == UNKNOWN), None)
        self.unk_surface = spec.unk_surface
        self.control = {p.piece for p in model.pieces if p.type == CONTROL}
        self.by_id = [p.piece for p in model.pieces]
        self.add_dummy_prefix = norm.add_dummy_prefix
        self.remove_extra_whitespaces = norm.remove_extra_whitespaces

    def state(self) -> dict:
        """The engine pipeline that segments text as this SentencePiece model does (model: its pieces)."""
        steps = []
        if self.charsmap:
            steps.append({"type": "Precompiled", "precompiled_charsmap": self.charsmap})
        if self.remove_extra_whitespaces:
            # SentencePiece trims and collapses spaces (only " ": tabs and newlines stay characters)
            steps += [{"type": "Replace", "pattern": {"Regex": "\\A +"}, "content": ""},
                      {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]
        if self.add_dummy_prefix:  # always, even before a "▁" written in the text
            steps.append({"type": "Prepend", "prepend": _SPACE})
        if self.remove_extra_whitespaces:
            # at the end it drops "▁" written in the text too: it cannot tell them from escaped spaces there
            steps.append({"type": "Replace", "pattern": {"Regex": "[ \u2581]+\\Z"}, "content": ""})
        state = legacy.empty_json()
        state["normalizer"] = {"type": "Sequence", "normalizers": steps} if steps else None
        state["pre_tokenizer"] = {"type": "Metaspace", "replacement": _SPACE, "split": True, "prepend_scheme": "never"}
        state["model"] = {"type": "Unigram", "unk_id": len(self.pieces), "byte_fallback": False,
                          "vocab": [list(p) for p in self.pieces] + [[_UNK_SENTINEL, min(s for _, s in self.pieces)]]}
        return state

    def decode_pieces(self, pieces: list[str]) -> str:
        """SentencePiece's DecodePieces: control pieces vanish, the unk piece reads " ⁇ ", a piece the model
        does not know stays as written; "▁" is a space, and while nothing is written yet a known piece
        loses its leading "▁" (the dummy prefix)."""
        out = ""
        for piece in pieces:
            if piece in self.control:
                continue
            if piece == self.unk_piece:
                out += self.unk_surface
            elif piece not in self.known:
                out += piece
            else:
                if not out and self.add_dummy_prefix and piece.startswith(_SPACE):
                    piece = piece[1:]
                out += piece.replace(_SPACE, " ")
        return out


class _SentencePieceCharsmap(Precompiled):
    """The charsmap applied as the sentencepiece library applies it: at each position the *longest* key
    of the trie is replaced and the text goes on after it (the `tokenizers` rule, per grapheme and
    shortest key, drops the rest of a grapheme such as "a\u0300\u0323")."""

    _MAX_KEY_CHARS = 32

    def _longest(self, text: str, start: int):
        """(length in characters, replacement) of the longest trie key at text[start:], or None."""
        units = self._units
        node = 0
        unit = units[0]
        node ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
        best = None
        for length, char in enumerate(text[start:start + self._MAX_KEY_CHARS], 1):
            for byte in char.encode("utf-8"):
                node ^= byte
                if node >= len(units):
                    return best
                unit = units[node]
                if (unit & ((1 << 31) | 0xFF)) != byte:
                    return best
                node ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
            if (unit >> 8) & 1:
                value = units[node] & ((1 << 31) - 1)
                end = self._blob.find(b"\0", value)
                best = (length, self._blob[value:end if end >= 0 else len(self._blob)].decode("utf-8", "replace"))
        return best

    def normalize(self, piece):
        text = piece.text
        if text.isascii() and "\r\n" not in text and all(self._lookup(c) is None for c in set(text)):
            return  # (the charsmap's one multi-character ASCII key is "\r\n"; no other ASCII maps)
        pairs, modified, i = [], False, 0
        while i < len(text):
            match = self._longest(text, i)
            if match is None:
                pairs.append((text[i], 0))
                i += 1
            else:
                length, replacement = match
                _spm_replace(pairs, text[i:i + length], replacement)
                modified, i = True, i + length
        if modified:
            piece.transform(pairs, 0)


class _VocabPieces(Model):
    """SentencePiece's segmentation (an inner Unigram over the model's pieces), ids from vocab.json."""

    type_name = "Unigram"

    def __init__(self, side: _Side, encoder: dict, decoder: dict, unk_id: int):
        super().__init__()
        inner = side.state()["model"]
        self.inner = Unigram([tuple(v) for v in inner["vocab"]], unk_id=inner["unk_id"])
        self.vocab, self._vocab_r, self.unk_id = encoder, decoder, unk_id

    def _tokenize(self, word):
        _, tokens, spans = self.inner._tokenize(word)
        vocab, unk = self.vocab, self.unk_id
        return tuple(vocab.get(t, unk) for t in tokens), tokens, spans

    def get_vocab_size(self):
        return len(self.vocab)

    def to_dict(self):
        return self.inner.to_dict()


class _MarianEngine(Tokenizer):
    """Our engine, plus Marian's one rule before segmentation: a ``>>lang<<`` code that starts the text,
    or the text right after an added token (the reference encodes the pieces between added tokens one
    by one), is one token."""

    plain_path = False  # set for SentencePiece models that add a dummy prefix and trim spaces

    def _encode_text(self, text, type_id, word_index=None):
        if word_index is None and self._plain(text):
            return self._encode_plain(text, type_id)
        cuts = self._language_codes_in(text) if ">>" in text else []
        if not cuts:
            return super()._encode_text(text, type_id, word_index)
        parts, pos = [], 0
        for start, end in cuts:
            if start > pos:
                parts.append((pos, text[pos:start], False))
            parts.append((start, text[start:end], True))
            pos = end
        if pos < len(text):
            parts.append((pos, text[pos:], False))
        out = Encoding([], [], [], [], [])
        for start, segment, is_code in parts:
            words = [] if word_index is None else None
            if is_code:
                enc = Encoding([self._model.vocab.get(segment, self._model.unk_id)], [type_id], [segment],
                               [0 if word_index is None else word_index], [(0, len(segment))])
            else:
                enc = super()._encode_text(segment, type_id, word_index)
            first_word = (max(out.words) + 1 if out.words else 0) if words is not None else 0
            out.ids += enc.ids
            out.type_ids += enc.type_ids
            out.tokens += enc.tokens
            out.words += [w + first_word if words is not None else w for w in enc.words]
            out.offsets += [(a + start, b + start) for a, b in enc.offsets]
        n = len(out.ids)
        out.special_tokens_mask, out.attention_mask = [0] * n, [1] * n
        return out

    def _plain(self, text: str) -> bool:
        """True when normalizing `text` changes nothing but the leading "▁" (ASCII the charsmap leaves
        alone, single spaces between words, none at the ends, no added token, no language code)."""
        if (not self.plain_path or not text or not text.isascii() or text[0] == " " or text[-1] == " "
                or "  " in text or ">>" in text):
            return False
        charsmap = self._normalizer[0] if isinstance(self._normalizer, Sequence) else None
        if isinstance(charsmap, Precompiled) and ("\r\n" in text or any(charsmap._lookup(c) is not None
                                                                        for c in set(text))):
            return False
        return not any(t.content in text for t in self._added.by_id.values())

    def _encode_plain(self, text: str, type_id: int) -> Encoding:
        """The engine's result for plain text, without its general alignment machinery: each word is
        "▁" + word through the model (cached per word); offsets and word ids as the engine gives them."""
        ids, tokens, words, offsets = [], [], [], []
        tokenize, cache = self._model.tokenize, self._model._cache
        start = 0
        for w, word in enumerate(text.split(" ")):
            key = _SPACE + word
            hit = cache.get(key) or tokenize(key)
            # the "▁" stands for the space before the word (for the first word: its first character)
            base = start - 1
            for tid, token, (a, b) in zip(*hit):
                ids.append(tid)
                tokens.append(token)
                offsets.append((a + base, b + base) if w else (max(a - 1, 0), max(b - 1, 1)))
                words.append(w)
            start += len(word) + 1
        n = len(ids)
        return Encoding(ids, [type_id] * n, tokens, words, offsets, [0] * n, [1] * n)

    def _language_codes_in(self, text: str) -> list:
        """(start, end) of each language code that opens a piece of text between added tokens."""
        contents = [t.content for t in self.get_added_tokens_decoder().values()]
        chunks, pos = [], 0
        while True:  # the added tokens, leftmost and then longest first, as the added vocabulary matches
            hits = [(i, -len(c)) for c in contents if (i := text.find(c, pos)) >= 0]
            if not hits:
                break
            index, minus_length = min(hits)
            chunks.append((pos, index))
            pos = index - minus_length
        chunks.append((pos, len(text)))
        cuts = []
        for start, end in chunks:
            close = text.find("<<", start, end) if text.startswith(">>", start) else -1
            if close != -1:
                cuts.append((start, close + 2))
        return cuts


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class MarianTokenizer(FamilyTokenizer):
    """SentencePiece per side, ids from vocab.json, </s> appended (see the module docstring)."""

    default_special_tokens = DEFAULTS
    vocab_files_names = dict(FILES, tokenizer_config_file="tokenizer_config.json")
    model_types = ("marian",)
    legacy_files = ("source.spm", "target.spm")
    only_as_itself = True
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, source_spm=None, target_spm=None, vocab=None, target_vocab_file=None, source_lang=None,
                 target_lang=None, separate_vocabs=False, model_max_length=512, _engine=None, **kwargs):
        missing = [name for name, value in (("source_spm", source_spm), ("target_spm", target_spm),
                                            ("vocab", vocab)) if not value]
        if separate_vocabs and not target_vocab_file:
            missing.append("target_vocab_file")
        if missing:
            raise ValueError(f"MarianTokenizer needs {', '.join(missing)} (paths to source.spm, target.spm, "
                             f"vocab.json and, with separate_vocabs, target_vocab.json); or use from_pretrained(folder).")
        # `_engine` (what from_pretrained built from state_from_files: a placeholder) is not used: the two
        # engines come from the files. sp_model_kwargs are sampling options of the sentencepiece runtime.
        kwargs.pop("tokenizer_file", None)
        kwargs.pop("sp_model_kwargs", None)
        self.spm_files = [os.fspath(source_spm), os.fspath(target_spm)]
        self.vocab_files = [os.fspath(vocab), os.fspath(target_vocab_file) if target_vocab_file else None]
        self.separate_vocabs = bool(separate_vocabs)
        self.source_lang, self.target_lang = source_lang, target_lang
        unk = str(kwargs.get("unk_token") or DEFAULTS["unk_token"])
        self.encoder = _read_json(vocab)
        if unk not in self.encoder:
            raise KeyError(f"{vocab} has no {unk!r}: a Marian vocabulary must hold its unk token.")
        self.target_encoder = _read_json(target_vocab_file) if self.separate_vocabs else self.encoder
        decoder = {i: t for t, i in self.target_encoder.items()}
        self.supported_language_codes = ([] if self.separate_vocabs else
                                         [t for t in self.encoder if t.startswith(">>") and t.endswith("<<")])
        self._sides = (_Side(self.spm_files[0]), _Side(self.spm_files[1]))
        self._engines = tuple(self._engine_for_side(side, enc, decoder, enc[unk] if unk in enc else self.encoder[unk])
                              for side, enc in zip(self._sides, (self.encoder, self.target_encoder)))
        super().__init__(_engine=self._engines[0], source_lang=source_lang, target_lang=target_lang,
                         separate_vocabs=self.separate_vocabs, model_max_length=model_max_length, **kwargs)
        self._mirror_added_tokens()
        eos = str(self.eos_token)
        for engine in self._engines:
            engine.post_processor = post_processor_from_dict(legacy.template_processing(
                ["$A", eos], ["$A", "$B", eos], {eos: engine.token_to_id(eos)}))
        self._engine_changed()

    @staticmethod
    def _engine_for_side(side, encoder, decoder, unk_id):
        state = side.state()
        engine = _MarianEngine.from_dict(state)
        engine.model = _VocabPieces(side, encoder, decoder, unk_id)
        engine.plain_path = side.add_dummy_prefix and side.remove_extra_whitespaces
        if side.charsmap:
            spaces = [normalizer_from_dict(step) for step in state["normalizer"]["normalizers"][1:]]
            engine.normalizer = Sequence([_SentencePieceCharsmap(side.charsmap)] + spaces)
        return engine

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        paths = {key: find(filename) for key, filename in FILES.items()}
        needed = ["source_spm", "target_spm", "vocab"] + (["target_vocab_file"] if kwargs.get("separate_vocabs") else [])
        lacking = [FILES[key] for key in needed if not paths[key]]
        if lacking:
            found = sorted(FILES[k] for k, p in paths.items() if p)
            raise OSError(f"Can't load a Marian tokenizer from {os.fspath(name_or_path)!r}: it lacks {lacking} "
                          f"(found {found or 'none of its files'}). MarianTokenizer needs source.spm, target.spm "
                          f"and vocab.json (and target_vocab.json with separate_vocabs).")
        kwargs.update({key: path for key, path in paths.items() if path})
        kwargs.pop("added_tokens_decoder", None)
        return {"model": {"type": "WordLevel", "vocab": {}, "unk_token": ""}}  # replaced by the class's own engines

    @classmethod
    def rebuild_state(cls, state, kwargs):
        raise OSError("This folder has a tokenizer.json under MarianTokenizer, which cannot express Marian's "
                      "vocabulary mapping (the reference ignores such a file too). Remove tokenizer.json: "
                      "MarianTokenizer reads source.spm, target.spm and vocab.json.")

    def _mirror_added_tokens(self):
        """The target engine knows the source engine's added tokens at the same ids: as in the reference,
        special tokens keep vocab.json's ids on the target side too (with separate_vocabs as well)."""
        source, target = self._engines
        target_model, target.model = target.model, source.model  # ids are looked up in the source vocabulary
        target.add_tokens(list(source.get_added_tokens_decoder().values()))
        target.model = target_model

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        if not hasattr(self, "_engines"):
            return super().add_tokens(new_tokens, special_tokens)
        self._switch_to_input_mode()
        # matched in the text as written (the reference's Python tokenizer does not normalize for them;
        # ours would, with the SentencePiece steps, and never find them)
        tokens = new_tokens if isinstance(new_tokens, (list, tuple)) else [new_tokens]
        tokens = [self._added_token(t, normalized=False, special=special_tokens) if isinstance(t, str) else
                  self._added_token(t.content, single_word=t.single_word, lstrip=t.lstrip, rstrip=t.rstrip,
                                    normalized=False, special=t.special) for t in tokens]
        added = super().add_tokens(tokens, special_tokens)
        self._mirror_added_tokens()
        return added

    def _engine_for(self, split_special_tokens: bool):
        if split_special_tokens:
            raise ValueError("split_special_tokens=True is not supported by MarianTokenizer (its engines map "
                             "pieces through vocab.json); tokenize special tokens written in the text as such, or "
                             "remove them from the text.")
        return self._tokenizer

    # ---- source / target -----------------------------------------------------------------------
    def _switch_to_input_mode(self):
        self._use(0)

    def _switch_to_target_mode(self):
        self._use(1)

    def _use(self, side: int):
        if self._tokenizer is not self._engines[side]:
            self._tokenizer = self._engines[side]
            self._engine_changed()

    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None, **kwargs):
        """Source text through source.spm; ``text_target`` (the labels) through target.spm."""
        if text_target is None and text_pair_target is None:
            self._switch_to_input_mode()
            return super().__call__(text, text_pair, **kwargs)
        return self._call_with_targets(text, text_pair, text_target, text_pair_target, kwargs)

    # ---- vocabulary ----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def get_vocab(self) -> dict:
        return dict(self.encoder, **self.get_added_vocab())

    def get_src_vocab(self) -> dict:
        return self.get_vocab()

    def get_tgt_vocab(self) -> dict:
        return dict(self.target_encoder, **self.get_added_vocab())

    def _token_to_id(self, token: str):
        index = self._tokenizer.token_to_id(token)
        return index if index is not None else self._tokenizer.model.unk_id

    # ---- decoding ------------------------------------------------------------------------------
    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False, use_source_tokenizer=None):
        side = self._sides[0 if self._decode_with_source(use_source_tokenizer) else 1]
        single = isinstance(ids, int)
        tokens = []
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        added = {i: t.content for i, t in self._engines[0].get_added_tokens_decoder().items()}
        decoder = self._engines[1].model._vocab_r
        for i in ([ids] if single else [int(i) for i in ids]):
            if i in skip:
                continue
            token = added.get(i) or decoder.get(i)
            if token is None:  # not in the vocabulary: the reference asks the SentencePiece model
                if not 0 <= i < len(side.by_id):
                    raise IndexError(f"Token id {i} is in neither the vocabulary nor {side.path} "
                                     f"({len(side.by_id)} pieces).")
                token = side.by_id[i] or self.unk_token
            tokens.append(token)
        return tokens[0] if single else tokens

    def _decode_with_source(self, use_source_tokenizer) -> bool:
        # with one shared vocabulary the reference decodes with source.spm unless told otherwise
        return (not self.separate_vocabs) if use_source_tokenizer is None else bool(use_source_tokenizer)

    def convert_tokens_to_string(self, tokens: list[str], use_source_tokenizer=None) -> str:
        side = self._sides[0 if self._decode_with_source(use_source_tokenizer) else 1]
        special = set(self.all_special_tokens)
        out, run = "", []
        for token in tokens:
            if token in special:  # special tokens are written as they are, each followed by a space
                out += side.decode_pieces(run) + token + " "
                run = []
            else:
                run.append(token)
        out += side.decode_pieces(run)
        return out.replace(_SPACE, " ").strip()

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None,
               use_source_tokenizer=None, **kwargs):
        from ..tokenizer import _to_py_ids

        token_ids = _to_py_ids(token_ids)
        if isinstance(token_ids, dict) or hasattr(token_ids, "keys"):
            token_ids = token_ids["input_ids"]
        if isinstance(token_ids, (list, tuple)) and token_ids and isinstance(token_ids[0], (list, tuple)):
            return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces, use_source_tokenizer)
                    for ids in token_ids]
        tokens = self.convert_ids_to_tokens(token_ids, skip_special_tokens, use_source_tokenizer)
        text = self.convert_tokens_to_string([tokens] if isinstance(tokens, str) else tokens, use_source_tokenizer)
        cleanup = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        return self.clean_up_tokenization(text) if cleanup else text

    def batch_decode(self, sequences, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None,
                     use_source_tokenizer=None, **kwargs) -> list[str]:
        from ..tokenizer import _to_py_ids

        return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces, use_source_tokenizer)
                for ids in _to_py_ids(sequences)]

    # ---- saving --------------------------------------------------------------------------------
    def save_pretrained(self, save_directory, legacy_format=None, filename_prefix=None, push_to_hub=False, **kwargs):
        """tokenizer_config.json and special_tokens_map.json, plus the SentencePiece models and vocabularies
        (no tokenizer.json: it cannot hold Marian's vocabulary mapping)."""
        written = super().save_pretrained(save_directory, legacy_format, filename_prefix, push_to_hub, **kwargs)
        written = [p for p in written if not p.endswith("tokenizer.json")]
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        os.remove(os.path.join(save_directory, prefix + "tokenizer.json"))
        sources = [(self.spm_files[0], FILES["source_spm"]), (self.spm_files[1], FILES["target_spm"]),
                   (self.vocab_files[0], FILES["vocab"])]
        if self.separate_vocabs:
            sources.append((self.vocab_files[1], FILES["target_vocab_file"]))
        for source, name in sources:
            target = os.path.join(save_directory, prefix + name)
            if os.path.abspath(source) != os.path.abspath(target):
                shutil.copyfile(source, target)
            written.append(target)
        return tuple(written)


MarianTokenizerFast = MarianTokenizer
