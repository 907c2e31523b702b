"""Which models the server has: ids, loading on first use, and a bound on how many stay loaded.

Only the engine's worker thread calls into a :class:`ModelStore` (loading a model changes
process-wide torch state, and a tokenizer call changes its engine's settings), so nothing here
locks. A model's id is its Hub id, or a local folder's or file's own name; a request may also name
anything ``from_pretrained`` takes, which is loaded then and kept until the least recently used
model has to make room.
"""

from __future__ import annotations

import collections
import os
import time

__all__ = ["ModelStore", "ModelNotFound", "model_id"]


class ModelNotFound(LookupError):
    """A request named a model that is neither loaded nor loadable (the message says why)."""


def model_id(source: str) -> str:
    """The id a model is listed under: a local folder's or file's own name, else the Hub id."""
    if os.path.exists(source):
        return os.path.basename(os.path.normpath(source))
    return source


def _is_sentence_transformers(source: str) -> bool:
    from ..hub import resolve_file

    try:
        return resolve_file(source, "modules.json", required=False) is not None
    except OSError:
        return False


class ModelStore:
    """Pipelines by (model, task), least recently used evicted beyond ``max_models``."""

    def __init__(self, max_models: int = 4, device=None, dtype=None):
        if max_models < 1:
            raise ValueError(f"max_models must be at least 1, not {max_models}.")
        self.max_models = max_models
        self.device = device
        self.dtype = dtype
        self.sources: dict[str, str] = {}  # id -> what from_pretrained takes
        self.created: dict[str, int] = {}
        self.pinned: set[str] = set()  # ids given on the command line stay listed after eviction
        self._pipes: collections.OrderedDict = collections.OrderedDict()  # (source, task) -> pipeline

    # ---- names ---------------------------------------------------------------------------------
    def add(self, source: str, pin: bool = False) -> str:
        ident = model_id(source)
        self.sources.setdefault(ident, source)
        self.created.setdefault(ident, int(time.time()))
        if pin:
            self.pinned.add(ident)
        return ident

    def resolve(self, name: str) -> tuple[str, str]:
        """``(id, source)`` for a request's model name."""
        if not isinstance(name, str) or not name:
            raise ModelNotFound("Name a model: one of those GET /v1/models lists, a local folder or a Hub id.")
        if name in self.sources:
            return name, self.sources[name]
        return model_id(name), name

    def listed(self) -> list[str]:
        loaded = {model_id(source) for source, _ in self._pipes}
        return [ident for ident in self.sources if ident in loaded or ident in self.pinned]

    def infer_task(self, name: str) -> str:
        """The task a model serves by default: sentence-embeddings for a sentence-transformers
        checkpoint, else what its architecture says (as ``pipeline(model=...)`` infers it)."""
        ident, source = self.resolve(name)
        from ..hub import split_gguf_path

        folder, gguf_file = split_gguf_path(source, None)
        if gguf_file is not None:
            return "text-generation"
        if _is_sentence_transformers(source):
            return "sentence-embeddings"
        from ..configuration import PretrainedConfig
        from ..pipelines import _infer_task

        try:
            architectures = PretrainedConfig.read_config_dict(source).get("architectures")
        except OSError as e:
            raise ModelNotFound(f"The model {name!r} does not exist here: {e}") from None
        return _infer_task(source, architectures)

    # ---- loading -------------------------------------------------------------------------------
    def pipeline(self, name: str, task: str):
        """``(id, pipeline)`` for ``task`` on the model ``name``, loading it on first use."""
        from ..pipelines import check_task, pipeline

        task, _ = check_task(task)
        ident, source = self.resolve(name)
        key = (source, task)
        pipe = self._pipes.get(key)
        if pipe is None:
            try:
                pipe = pipeline(task, model=source, device=self.device, dtype=self.dtype)
            except OSError as e:  # CheckpointNotFoundError: no such folder, file or cached Hub id
                raise ModelNotFound(f"The model {name!r} does not exist here: {e}") from None
            self.add(source)
            self._pipes[key] = pipe
            while len(self._pipes) > self.max_models:
                self._pipes.popitem(last=False)
        self._pipes.move_to_end(key)
        return ident, pipe

    def generator(self, name: str):
        """``(id, object with .model and .tokenizer)`` for generation: the text-generation pipeline
        of a decoder-only model, or an encoder-decoder model loaded as such (``AutoModelForCausalLM``
        would load only its decoder)."""
        ident, source = self.resolve(name)
        key = (source, "seq2seq")
        if key not in self._pipes:
            from ..configuration import PretrainedConfig
            from ..hub import split_gguf_path

            if split_gguf_path(source, None)[1] is not None:
                return self.pipeline(name, "text-generation")
            try:
                config = PretrainedConfig.read_config_dict(source)
            except OSError as e:
                raise ModelNotFound(f"The model {name!r} does not exist here: {e}") from None
            if not config.get("is_encoder_decoder"):
                return self.pipeline(name, "text-generation")
            import types

            from ..auto import AutoModelForSeq2SeqLM, AutoTokenizer
            from ..pipelines.base import resolve_device

            model = AutoModelForSeq2SeqLM.from_pretrained(source, dtype=self.dtype)
            model.to(resolve_device(self.device, model)).eval()
            self.add(source)
            self._pipes[key] = types.SimpleNamespace(model=model, tokenizer=AutoTokenizer.from_pretrained(source))
            while len(self._pipes) > self.max_models:
                self._pipes.popitem(last=False)
        self._pipes.move_to_end(key)
        return ident, self._pipes[key]

    def describe(self, ident: str) -> dict:
        return {"id": ident, "object": "model", "created": self.created.get(ident, 0), "owned_by": "leanformers"}

