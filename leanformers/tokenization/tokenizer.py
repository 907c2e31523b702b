"""The user-facing tokenizer: the reference's `PreTrainedTokenizerFast` API on top of our tokenizer.json engine.

The engine (`engine.Tokenizer`) does the work — normalize, pre-tokenize, model, post-process, pad,
truncate — on whole batches. This layer turns the user's arguments into engine settings, calls
`encode_batch` once per call, and lays the Encodings out as a `BatchEncoding`. It also owns the
bookkeeping the reference keeps around a tokenizer: named special tokens, `model_max_length`,
padding/truncation sides, decoding cleanup, chat templates and `save_pretrained`.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Mapping

from .batch_encoding import BatchEncoding, CharSpan, TokenSpan  # noqa: F401  (re-exported)
from .special_tokens import SpecialTokensMixin
from . import files
from .lazy import LazyLogger

logger = LazyLogger(__name__)

_MISSING = object()
VERY_LARGE_INTEGER = int(1e30)  # the reference's "no limit known" model_max_length
LARGE_INTEGER = int(1e20)

PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")

_TEXT_INPUT_HELP = (
    "pass a `str` (one text), a `list[str]` (a batch, or one pre-tokenized text with is_split_into_words=True), "
    "or a `list[list[str]]` (a batch of pre-tokenized texts)"
)


def _backend_tokenizer_class():
    """The engine class used to build tokenizers from tokenizer.json (a seam tests may swap)."""
    from .engine import Tokenizer

    return Tokenizer


def engine_from_state(state: dict, cls=None):
    """An engine built from a tokenizer.json dict. Our engine takes the dict as it is; a JSON round
    trip (for engines that only read strings) costs as much as the build itself on a 50k vocabulary."""
    cls = cls or _backend_tokenizer_class()
    from_dict = getattr(cls, "from_dict", None)
    if from_dict is not None:
        return from_dict(state)
    return cls.from_str(json.dumps(state))


def engine_state(engine) -> dict:
    """The tokenizer.json dict of an engine."""
    to_dict = getattr(engine, "to_dict", None)
    return to_dict() if to_dict is not None else json.loads(engine.to_str())


def _is_text_input(value) -> bool:
    """str, list[str], list[list[str]], list[tuple[list[str], list[str]]] or an empty list."""
    if isinstance(value, str):
        return True
    if not isinstance(value, (list, tuple)):
        return False
    if len(value) == 0 or isinstance(value[0], str):
        return True
    if isinstance(value[0], (list, tuple)):
        inner = value[0]
        if len(inner) == 0 or isinstance(inner[0], str):
            return True
        if isinstance(inner[0], (list, tuple)):
            return len(inner[0]) == 0 or isinstance(inner[0][0], str)
    return False


def _offset_tuples(offsets) -> list:
    """Offsets as a list of (start, end) tuples; engines that already give tuples are taken as they are."""
    if type(offsets) is list and (not offsets or type(offsets[0]) is tuple):
        return offsets
    return [tuple(span) for span in offsets]


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def _to_py_ids(ids):
    """Tensors / arrays / numpy scalars → plain Python ints or nested lists."""
    if hasattr(ids, "tolist"):
        return ids.tolist()
    if isinstance(ids, (list, tuple)) and ids and hasattr(ids[0], "tolist"):
        return [x.tolist() for x in ids]
    return ids


def clean_up_tokenization(text: str) -> str:
    """The reference's cleanup of spaces that WordPiece decoding leaves before punctuation and contractions."""
    return (
        text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
    )


class PreTrainedTokenizerFast(SpecialTokensMixin):
    """A tokenizer backed by a tokenizer.json engine, with the reference's calling conventions.

    Build one with `from_pretrained(name_or_path)`, or directly from an engine object
    (`tokenizer_object=`) or a file (`tokenizer_file=`) plus the tokenizer_config.json settings as kwargs.
    """

    vocab_files_names: dict[str, str] = {}
    model_input_names: list[str] = ["input_ids", "attention_mask"]
    padding_side: str = "right"
    truncation_side: str = "right"
    # The special tokens a family (families/*.py) has when the config does not say.
    default_special_tokens: dict[str, str] = {}

    def __init__(self, *args, tokenizer_object=None, tokenizer_file=None, _engine=None, **kwargs):
        if args:
            raise TypeError(
                f"{type(self).__name__}() takes keyword arguments only (tokenizer_object=..., tokenizer_file=...); "
                "to load files from a folder or the Hub use from_pretrained(name_or_path)."
            )
        for name, value in self.default_special_tokens.items():
            kwargs.setdefault(name, value)
        if _engine is not None:  # built by from_pretrained for this tokenizer alone: no copy needed
            backend = _engine
        elif tokenizer_object is not None:
            backend = copy.deepcopy(tokenizer_object)
        elif tokenizer_file is not None:
            backend = _backend_tokenizer_class().from_file(os.fspath(tokenizer_file))
        else:
            backend = self._build_backend_from_kwargs(kwargs)
            if backend is None:
                raise ValueError(
                    f"{type(self).__name__} needs a tokenizer: pass tokenizer_object= (an engine Tokenizer), "
                    "tokenizer_file= (a tokenizer.json path), or use from_pretrained(name_or_path)."
                )
        self._tokenizer = backend
        self._applied_settings = None  # (truncation, padding) last pushed to the engine; None = unknown
        self._split_engine = None  # the engine used with split_special_tokens=True, built on first use
        self._special_switch_on = False  # whether the engine's own encode_special_tokens switch is set

        # tokenizer.json may carry default truncation / padding: the reference turns them into tokenizer
        # defaults (sides, pad token) but applies its own settings on every call.
        truncation = getattr(backend, "truncation", None)
        if truncation:
            kwargs.setdefault("max_length", truncation["max_length"])
            kwargs.setdefault("truncation_side", truncation["direction"])
            kwargs.setdefault("stride", truncation["stride"])
            kwargs.setdefault("truncation_strategy", truncation["strategy"])
        padding = getattr(backend, "padding", None)
        if padding:
            kwargs.setdefault("pad_token", padding["pad_token"])
            kwargs.setdefault("pad_token_type_id", padding["pad_type_id"])
            kwargs.setdefault("padding_side", padding["direction"])
            kwargs.setdefault("max_length", padding["length"])
            kwargs.setdefault("pad_to_multiple_of", padding["pad_to_multiple_of"])
        self._saved_truncation, self._saved_padding = truncation, padding

        if "additional_special_tokens" in kwargs and "extra_special_tokens" not in kwargs:
            kwargs["extra_special_tokens"] = kwargs.pop("additional_special_tokens")
        kwargs.pop("added_tokens_decoder", None)  # already in the engine's added vocabulary
        self.init_kwargs = copy.deepcopy(kwargs)
        self.name_or_path = kwargs.pop("name_or_path", "")
        self._init_special_tokens(kwargs)

        max_len = kwargs.pop("model_max_length", kwargs.pop("max_len", None))
        self.model_max_length = max_len if max_len is not None else VERY_LARGE_INTEGER
        self.padding_side = kwargs.pop("padding_side", type(self).padding_side)
        self.truncation_side = kwargs.pop("truncation_side", type(self).truncation_side)
        for name in ("padding_side", "truncation_side"):
            if getattr(self, name) not in ("right", "left"):
                raise ValueError(f"{name} should be 'right' or 'left', got {getattr(self, name)!r}")
        self.model_input_names = list(kwargs.pop("model_input_names", type(self).model_input_names))
        self.clean_up_tokenization_spaces = kwargs.pop("clean_up_tokenization_spaces", False)
        self.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output = kwargs.pop(
            "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False
        )
        self.split_special_tokens = kwargs.pop("split_special_tokens", False)
        template = kwargs.pop("chat_template", None)
        if isinstance(template, (list, tuple)):
            template = {item["name"]: item["template"] for item in template}
        self.chat_template = template
        self.verbose = kwargs.pop("verbose", False)
        self.deprecation_warnings = {}
        self._model_type_name = None
        self._layout = None
        self._register_special_tokens_in_backend()
        processor = getattr(backend, "post_processor", _MISSING)
        if processor is _MISSING:
            processor = self._post_processor_json()
        if "add_bos_token" in kwargs or "add_eos_token" in kwargs or processor is None:
            self._add_bos_token = bool(kwargs.get("add_bos_token", False))
            self._add_eos_token = bool(kwargs.get("add_eos_token", False))
            self.update_post_processor()

    def _build_backend_from_kwargs(self, kwargs):
        """Families (families/*.py) build the engine from vocab files passed as kwargs (vocab_file=...)."""
        return None

    # ---- engine plumbing -----------------------------------------------------------------------
    @property
    def backend_tokenizer(self):
        """The engine Tokenizer doing the work."""
        # Whoever takes the engine may reconfigure it: push our settings again on the next call.
        self._engine_changed()
        return self._tokenizer

    def _engine_changed(self):
        """Forget everything derived from the engine (settings pushed, special-token layout, split engine)."""
        self._applied_settings = None
        self._layout = None
        self._split_engine = None

    @property
    def is_fast(self) -> bool:
        return True

    def _engine_json(self) -> dict:
        return engine_state(self._tokenizer)

    def _post_processor_json(self):
        processor = getattr(self._tokenizer, "post_processor", None)
        if processor is None:
            return None
        if hasattr(processor, "to_dict"):  # our engine's components
            return processor.to_dict()
        return self._engine_json().get("post_processor")

    def _set_post_processor_json(self, processor: dict | None):
        if self._is_own_engine():
            # Swap the one component instead of rebuilding the whole engine (vocabulary included).
            from .processors import post_processor_from_dict

            self._tokenizer.post_processor = post_processor_from_dict(processor)
            self._engine_changed()
            return
        state = self._engine_json()
        state["post_processor"] = processor
        self._replace_backend(state)

    def _is_own_engine(self) -> bool:
        return type(self._tokenizer).__module__ == f"{__package__}.engine"

    def _replace_backend(self, state: dict):
        self._tokenizer = engine_from_state(state, type(self._tokenizer))
        self._special_switch_on = False
        self._engine_changed()

    def _added_token(self, content, **flags):
        """An AddedToken of the engine's own class (the engine only accepts its own)."""
        cls = getattr(sys.modules.get(type(self._tokenizer).__module__), "AddedToken", None)
        if cls is None:
            from .engine import AddedToken as cls
        if not isinstance(content, str):  # an AddedToken from anywhere: copy its flags
            flags = {k: getattr(content, k) for k in ("single_word", "lstrip", "rstrip", "normalized", "special")}
            content = content.content
        return cls(content, **flags)

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary, without added tokens."""
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def vocab(self) -> dict[str, int]:
        return self.get_vocab()

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def __bool__(self) -> bool:
        return True

    @property
    def added_tokens_decoder(self) -> dict:
        return dict(sorted(self._tokenizer.get_added_tokens_decoder().items()))

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return {token.content: index for index, token in self.added_tokens_decoder.items()}

    def get_added_vocab(self) -> dict[str, int]:
        return self.added_tokens_encoder

    def _model_type(self) -> str:
        if self._model_type_name is None:
            model = getattr(self._tokenizer, "model", None)
            name = type(model).__name__ if model is not None else ""
            if name not in ("BPE", "WordPiece", "Unigram", "WordLevel"):
                name = self._engine_json().get("model", {}).get("type", "")
            self._model_type_name = name
        return self._model_type_name

    def _apply_settings(self, truncation: dict | None, padding: dict | None, engine=None):
        # Reconfigure the engine only when the settings change: batches in a loop pay nothing.
        # (The split_special_tokens copy is rarely used: it is simply configured every time.)
        main = engine is None or engine is self._tokenizer
        if main and self._applied_settings == (truncation, padding):
            return
        engine = self._tokenizer if engine is None else engine
        if truncation is None:
            engine.no_truncation()
        else:
            engine.enable_truncation(**truncation)
        if padding is None:
            engine.no_padding()
        else:
            engine.enable_padding(**padding)
        if main:
            self._applied_settings = (truncation, padding)

    # ---- strategies ----------------------------------------------------------------------------
    def _get_padding_truncation_strategies(self, padding=False, truncation=None, max_length=None,
                                           pad_to_multiple_of=None, verbose=True):
        """Normalise the user's padding/truncation arguments the way the reference does."""
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"  # a bare max_length means "truncate to it"
        padding = getattr(padding, "value", padding)
        truncation = getattr(truncation, "value", truncation)
        if padding is True:
            if verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
                logger.warning(
                    "`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
                    "To pad to max length, use `padding='max_length'`."
                )
            padding_strategy = "longest"
        elif padding is False or padding is None:
            padding_strategy = "do_not_pad"
        elif padding in PADDING_STRATEGIES:
            padding_strategy = padding
        else:
            raise ValueError(f"padding={padding!r} is not valid; use True, False, or one of {list(PADDING_STRATEGIES)}.")
        if truncation is True:
            truncation_strategy = "longest_first"
        elif truncation is False or truncation is None:
            truncation_strategy = "do_not_truncate"
        elif truncation in TRUNCATION_STRATEGIES:
            truncation_strategy = truncation
        else:
            raise ValueError(
                f"truncation={truncation!r} is not valid; use True, False, or one of {list(TRUNCATION_STRATEGIES)}."
            )
        if max_length is None:
            if padding_strategy == "max_length":
                if self.model_max_length > LARGE_INTEGER:
                    padding_strategy = "do_not_pad"  # no known limit: the reference silently does not pad
                else:
                    max_length = self.model_max_length
            if truncation_strategy != "do_not_truncate":
                if self.model_max_length > LARGE_INTEGER:
                    truncation_strategy = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if padding_strategy != "do_not_pad" and (self.pad_token is None or (self.pad_token_id or 0) < 0):
            raise ValueError(
                "Asking to pad but the tokenizer does not have a padding token. "
                "Please select a token to use as `pad_token` `(tokenizer.pad_token = tokenizer.eos_token e.g.)` "
                "or add a new pad token via `tokenizer.add_special_tokens({'pad_token': '[PAD]'})`."
            )
        if (truncation_strategy != "do_not_truncate" and padding_strategy != "do_not_pad"
                and pad_to_multiple_of is not None and max_length is not None and max_length % pad_to_multiple_of):
            raise ValueError(
                "Truncation and padding are both activated but "
                f"truncation length ({max_length}) is not a multiple of pad_to_multiple_of ({pad_to_multiple_of})."
            )
        return padding_strategy, truncation_strategy, max_length

    # ---- encoding ------------------------------------------------------------------------------
    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None, *,
                 add_special_tokens=True, padding=False, truncation=None, max_length=None, stride=0,
                 is_split_into_words=False, pad_to_multiple_of=None, padding_side=None, return_tensors=None,
                 return_token_type_ids=None, return_attention_mask=None, return_overflowing_tokens=False,
                 return_special_tokens_mask=False, return_offsets_mapping=False, return_length=False,
                 verbose=True, split_special_tokens=None, tokenizer_kwargs=None, **kwargs) -> BatchEncoding:
        """Tokenize one text, a batch, or pairs; see the reference's `PreTrainedTokenizerBase.__call__`.

        `text_target` (and `text_pair_target`) are tokenized the same way and returned as `labels`
        (`max_target_length` caps them). `split_special_tokens=True` tokenizes special tokens written in the
        text as plain text. `tokenizer_kwargs` (a dict) overrides the named arguments, as in the reference.
        """
        if tokenizer_kwargs:
            arguments = dict(add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                             max_length=max_length, stride=stride, is_split_into_words=is_split_into_words,
                             pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                             return_tensors=return_tensors, return_token_type_ids=return_token_type_ids,
                             return_attention_mask=return_attention_mask,
                             return_overflowing_tokens=return_overflowing_tokens,
                             return_special_tokens_mask=return_special_tokens_mask,
                             return_offsets_mapping=return_offsets_mapping, return_length=return_length,
                             verbose=verbose, split_special_tokens=split_special_tokens)
            arguments.update(tokenizer_kwargs)
            arguments.update(kwargs)
            return self(text, text_pair, text_target, text_pair_target, **arguments)
        if text is None and text_target is None:
            raise ValueError(
                f"No text to tokenize: text is None. Pass the text as the first argument ({_TEXT_INPUT_HELP})."
            )
        max_target_length = kwargs.pop("max_target_length", None) if kwargs else None
        if kwargs:
            raise TypeError(f"{type(self).__name__}.__call__() got unexpected keyword arguments {sorted(kwargs)}")
        padding_strategy, truncation_strategy, max_length = self._get_padding_truncation_strategies(
            padding, truncation, max_length, pad_to_multiple_of, verbose)
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        options = (add_special_tokens, padding_strategy, truncation_strategy, stride, is_split_into_words,
                   pad_to_multiple_of, padding_side, return_tensors, return_token_type_ids, return_attention_mask,
                   return_overflowing_tokens, return_special_tokens_mask, return_offsets_mapping, return_length,
                   verbose, split_special_tokens)
        if text_target is None:  # the common case, kept free of extra work
            return self._encode(text, text_pair, max_length, *options)
        targets = self._encode(text_target, text_pair_target,
                               max_target_length if max_target_length is not None else max_length, *options)
        if text is None:
            return targets
        encodings = self._encode(text, text_pair, max_length, *options)
        encodings["labels"] = targets["input_ids"]
        return encodings

    def encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        """Same as calling the tokenizer on one text (kept from the reference's v4 API)."""
        return self(text, text_pair, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs, **kwargs) -> BatchEncoding:
        """Same as calling the tokenizer on a batch; pairs may be given as (text, pair) tuples."""
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TypeError(
                f"batch_encode_plus expects a list of texts or (text, pair) tuples, got {_describe(batch_text_or_text_pairs)}"
            )
        pretokenized = kwargs.get("is_split_into_words", False)
        items = list(batch_text_or_text_pairs)
        is_pairs = bool(items) and isinstance(items[0], tuple) and (
            not pretokenized or (len(items[0]) == 2 and isinstance(items[0][0], (list, tuple))))
        if is_pairs:
            return self([a for a, _ in items], [b for _, b in items], **kwargs)
        return self(items, **kwargs)

    def encode(self, text, text_pair=None, add_special_tokens=True, padding=False, truncation=None,
               max_length=None, stride=0, padding_side=None, return_tensors=None, **kwargs):
        """Token ids of one text (or pair): `tokenizer(text)["input_ids"]`."""
        encoded = self(text, text_pair, add_special_tokens=add_special_tokens, padding=padding,
                       truncation=truncation, max_length=max_length, stride=stride, padding_side=padding_side,
                       return_tensors=return_tensors, **kwargs)
        return encoded["input_ids"]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """The token strings of one text (no special tokens unless asked)."""
        if not isinstance(text, str) and not kwargs.get("is_split_into_words"):
            raise TypeError(f"tokenize() expects a str, got {_describe(text)}")
        return self(text, pair, add_special_tokens=add_special_tokens, **kwargs).encodings[0].tokens

    def _encode(self, text, text_pair, max_length, add_special_tokens, padding_strategy, truncation_strategy,
                stride, is_split_into_words, pad_to_multiple_of, padding_side, return_tensors,
                return_token_type_ids, return_attention_mask, return_overflowing_tokens,
                return_special_tokens_mask, return_offsets_mapping, return_length, verbose,
                split_special_tokens=False) -> BatchEncoding:
        # Arguments are positional: this runs once per call, and a single short text spends more time
        # here than in the engine when the layer is careless.
        if type(text) is not str and not _is_text_input(text):
            raise ValueError(f"Cannot tokenize text={_describe(text)}: {_TEXT_INPUT_HELP}.")
        if text_pair is not None and type(text_pair) is not str and not _is_text_input(text_pair):
            raise ValueError(f"Cannot tokenize text_pair={_describe(text_pair)}: {_TEXT_INPUT_HELP}.")
        if is_split_into_words:
            is_batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        else:
            is_batched = isinstance(text, (list, tuple))
        if is_batched:
            if isinstance(text_pair, str):
                raise TypeError(
                    "when tokenizing batches of text, `text_pair` must be a list or tuple with the same length as `text`."
                )
            if text_pair is not None and len(text) != len(text_pair):
                raise ValueError(
                    f"batch length of `text`: {len(text)} does not match batch length of `text_pair`: {len(text_pair)}."
                )
            inputs = list(zip(text, text_pair)) if text_pair is not None else text
        else:
            inputs = [(text, text_pair)] if text_pair else [text]

        truncation = None
        if truncation_strategy != "do_not_truncate":
            truncation = {"max_length": max_length, "stride": stride, "strategy": truncation_strategy,
                          "direction": self.truncation_side}
        padding = None
        if padding_strategy != "do_not_pad":
            padding = {"length": max_length if padding_strategy == "max_length" else None,
                       "direction": padding_side or self.padding_side, "pad_id": self.pad_token_id,
                       "pad_token": self.pad_token, "pad_type_id": self.pad_token_type_id,
                       "pad_to_multiple_of": pad_to_multiple_of}
        engine = self._engine_for(split_special_tokens)
        self._apply_settings(truncation, padding, engine)
        if inputs:
            encodings = engine.encode_batch(inputs, add_special_tokens=add_special_tokens,
                                            is_pretokenized=is_split_into_words)
        else:
            encodings = []

        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        if return_overflowing_tokens:
            rows, sample_of_row = [], []
            for sample, encoding in enumerate(encodings):
                group = [encoding, *encoding.overflowing]
                rows.extend(group)
                sample_of_row.extend([sample] * len(group))
        else:
            rows = encodings
        data = {"input_ids": [e.ids for e in rows]}
        if return_token_type_ids:
            data["token_type_ids"] = [e.type_ids for e in rows]
        if return_attention_mask:
            data["attention_mask"] = [e.attention_mask for e in rows]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [e.special_tokens_mask for e in rows]
        if return_offsets_mapping:
            data["offset_mapping"] = [_offset_tuples(e.offsets) for e in rows]
        if return_length:
            data["length"] = [len(ids) for ids in data["input_ids"]]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample_of_row
        if max_length is None and verbose:
            self._warn_if_too_long(data["input_ids"])

        if not is_batched and return_tensors is None and not return_overflowing_tokens:
            data = {key: value[0] if value and isinstance(value[0], list) else value for key, value in data.items()}
            return BatchEncoding(data, rows)
        return BatchEncoding(data, rows, tensor_type=return_tensors)

    def _engine_for(self, split_special_tokens: bool):
        """The engine for this call. With split_special_tokens=True special tokens written in the text are
        not matched, so "[SEP]" is tokenized like any other text (non-special added tokens still match)."""
        engine = self._tokenizer
        if not split_special_tokens and not self._special_switch_on:
            return engine
        if hasattr(engine, "encode_special_tokens"):  # an engine with the switch (`tokenizers` has it)
            engine.encode_special_tokens = bool(split_special_tokens)
            self._special_switch_on = bool(split_special_tokens)
            return engine
        if not split_special_tokens:
            return engine
        if self._split_engine is None:
            # Ours has no switch: a copy whose added vocabulary keeps only the non-special tokens. Its
            # model, post-processor (which refers to special tokens by id) and decoder are the same.
            state = self._engine_json()
            state["added_tokens"] = [t for t in state.get("added_tokens", []) if not t.get("special")]
            self._split_engine = engine_from_state(state, type(self._tokenizer))
        return self._split_engine

    def _warn_if_too_long(self, all_ids):
        if self.model_max_length == 0 or self.deprecation_warnings.get("sequence-length-is-longer"):
            return
        longest = max((len(ids) for ids in all_ids), default=0)
        if longest > self.model_max_length:
            logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this model "
                f"({longest} > {self.model_max_length}). Running this sequence through the model will result in "
                "indexing errors"
            )
            self.deprecation_warnings["sequence-length-is-longer"] = True

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._tokenizer.num_special_tokens_to_add(pair)

    # ---- padding already-encoded inputs -------------------------------------------------------
    def pad(self, encoded_inputs, padding=True, max_length=None, pad_to_multiple_of=None, padding_side=None,
            return_attention_mask=None, return_tensors=None, verbose=True) -> BatchEncoding:
        """Pad encoded inputs (one dict, a dict of lists, or a list of dicts as a collate_fn gets them)."""
        from .padding import pad_encoded_inputs

        return pad_encoded_inputs(self, encoded_inputs, padding, max_length, pad_to_multiple_of, padding_side,
                                  return_attention_mask, return_tensors, verbose)

    # ---- special-token layout (v4 helpers) ----------------------------------------------------
    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        """Wrap ids in the model's special tokens, e.g. [CLS] A [SEP] (B [SEP])."""
        from .padding import apply_special_layout

        return apply_special_layout(self, token_ids_0, token_ids_1)[0]

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None) -> list[int]:
        from .padding import apply_special_layout

        return apply_special_layout(self, token_ids_0, token_ids_1)[1]

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False) -> list[int]:
        """1 for special tokens, 0 for sequence tokens."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError(
                    "You should not supply a second sequence if the provided sequence of ids is already formatted "
                    "with special tokens for the model."
                )
            special_ids = set(self.all_special_ids)
            return [1 if int(i) in special_ids else 0 for i in token_ids_0]
        from .padding import apply_special_layout

        return apply_special_layout(self, token_ids_0, token_ids_1)[2]

    # ---- decoding ------------------------------------------------------------------------------
    def convert_tokens_to_ids(self, tokens):
        """A token (str) → its id, or a list of tokens → list of ids; unknown tokens map to unk_token_id."""
        if tokens is None:
            return None
        if isinstance(tokens, str):
            return self._token_to_id(tokens)
        return [self._token_to_id(token) for token in tokens]

    def _token_to_id(self, token: str):
        index = self._tokenizer.token_to_id(token)
        return index if index is not None else self.unk_token_id

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """An id → its token string, or a list of ids → list of tokens."""
        ids = _to_py_ids(ids)
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._tokenizer.id_to_token(int(i)) for i in ids if int(i) not in skip]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        decoder = getattr(self._tokenizer, "decoder", None)
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               **kwargs):
        """Ids → text. A batch (list of lists / 2-D tensor) gives a list of texts."""
        token_ids = _to_py_ids(token_ids)
        if isinstance(token_ids, Mapping):
            token_ids = token_ids["input_ids"]
        if isinstance(token_ids, (list, tuple)) and token_ids and isinstance(token_ids[0], (list, tuple)):
            return [self._decode(ids, skip_special_tokens, clean_up_tokenization_spaces) for ids in token_ids]
        return self._decode(token_ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs) -> list[str]:
        sequences = _to_py_ids(sequences)
        if len(sequences) == 0:
            return []
        result = self.decode(sequences, skip_special_tokens, clean_up_tokenization_spaces)
        return [result] if isinstance(result, str) else result

    def _decode(self, token_ids, skip_special_tokens, clean_up_tokenization_spaces) -> str:
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if not isinstance(token_ids, (list, tuple)) or not all(isinstance(i, int) for i in token_ids):
            raise TypeError(f"decode() expects token ids (int, list[int] or a tensor of ints), got {_describe(token_ids)}")
        text = self._tokenizer.decode(list(token_ids), skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if clean_up_tokenization_spaces:
            # The cleanup is meant for WordPiece output; on byte-level BPE it would delete real spaces.
            if self._model_type() == "BPE" and not self.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output:
                if not self.deprecation_warnings.get("bpe-cleanup"):
                    logger.warning("Ignoring clean_up_tokenization_spaces=True for BPE tokenizer %s.", type(self).__name__)
                    self.deprecation_warnings["bpe-cleanup"] = True
            else:
                text = clean_up_tokenization(text)
        return text

    clean_up_tokenization = staticmethod(clean_up_tokenization)

    # ---- chat templates ------------------------------------------------------------------------
    def apply_chat_template(self, conversation, chat_template=None, tools=None, documents=None,
                            add_generation_prompt=False, continue_final_message=False, tokenize=True,
                            padding=False, truncation=False, max_length=None, return_tensors=None,
                            return_dict=True, return_assistant_tokens_mask=False, tokenizer_kwargs=None,
                            **template_kwargs):
        """Render a conversation (or a batch) with the tokenizer's Jinja chat template; tokenize it if asked."""
        from .chat import apply_chat_template

        return apply_chat_template(self, conversation, chat_template=chat_template, tools=tools,
                                   documents=documents, add_generation_prompt=add_generation_prompt,
                                   continue_final_message=continue_final_message, tokenize=tokenize,
                                   padding=padding, truncation=truncation, max_length=max_length,
                                   return_tensors=return_tensors, return_dict=return_dict,
                                   return_assistant_tokens_mask=return_assistant_tokens_mask,
                                   tokenizer_kwargs=tokenizer_kwargs, **template_kwargs)

    def get_chat_template(self, chat_template=None, tools=None) -> str:
        from .chat import get_chat_template

        return get_chat_template(self, chat_template, tools)

    # ---- loading and saving --------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *init_inputs, **kwargs):
        """Load from a local folder or a Hub id: tokenizer.json, or the legacy vocabulary files."""
        from .auto import load_tokenizer

        return load_tokenizer(pretrained_model_name_or_path, tokenizer_class=cls, **kwargs)

    def save_pretrained(self, save_directory, legacy_format=None, filename_prefix=None, push_to_hub=False, **kwargs):
        """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json (and chat_template.jinja)."""
        if push_to_hub:
            raise NotImplementedError("push_to_hub is not supported; upload the saved folder with huggingface_hub.")
        return files.save_tokenizer(self, save_directory, filename_prefix, kwargs.get("save_jinja_files", True))

    def __repr__(self) -> str:
        added = "\n\t".join(f"{k}: {v!r}," for k, v in self.added_tokens_decoder.items())
        added = f"\n\t{added}\n" if added else ""
        return (
            f"{type(self).__name__}(name_or_path='{self.name_or_path}', vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, padding_side='{self.padding_side}', "
            f"truncation_side='{self.truncation_side}', special_tokens={self.special_tokens_map}, "
            f"added_tokens_decoder={{{added}}})"
        )


# There is only one kind of tokenizer here; the reference's other base names point to it.
PreTrainedTokenizer = PreTrainedTokenizerFast
PreTrainedTokenizerBase = PreTrainedTokenizerFast
