"""Checkpoint folders: ``output_dir/checkpoint-<step>/`` and what resuming needs from them.

A checkpoint holds the model (save_pretrained files), ``optimizer.pt``, ``scheduler.pt``,
``rng_state.pth`` (``rng_state_<rank>.pth`` under torchrun), ``trainer_state.json`` and
``training_args.json``. Everything is written as tensors, plain containers or JSON, so it loads with
``torch.load(weights_only=True)``: opening a checkpoint never runs pickled code. Every file goes
through leanformers' one atomic writer (``configuration.write_file_atomic``), as save_pretrained's
do: a run killed while saving leaves each file old or new, never half-written.
"""

from __future__ import annotations

import os
import random
import re
import shutil

import numpy as np
import torch
from torch import nn

__all__ = [
    "PREFIX_CHECKPOINT_DIR", "TRAINER_STATE_NAME", "TRAINING_ARGS_NAME", "OPTIMIZER_NAME", "SCHEDULER_NAME",
    "SCALER_NAME", "get_last_checkpoint", "sorted_checkpoints", "rotate_checkpoints", "save_rng_state",
    "load_rng_state", "save_bare_model", "load_model_weights", "save_torch", "save_text",
]

PREFIX_CHECKPOINT_DIR = "checkpoint"
TRAINER_STATE_NAME = "trainer_state.json"
TRAINING_ARGS_NAME = "training_args.json"
OPTIMIZER_NAME = "optimizer.pt"
SCHEDULER_NAME = "scheduler.pt"
SCALER_NAME = "scaler.pt"
_CHECKPOINT_RE = re.compile(r"^" + PREFIX_CHECKPOINT_DIR + r"\-(\d+)$")


def sorted_checkpoints(folder: str) -> list[str]:
    """The ``checkpoint-<step>`` sub-folders of ``folder``, oldest step first."""
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), os.path.join(folder, name)) for name in os.listdir(folder)
             if (m := _CHECKPOINT_RE.match(name)) and os.path.isdir(os.path.join(folder, name))]
    return [path for _, path in sorted(found)]


def get_last_checkpoint(folder: str) -> str | None:
    """The checkpoint sub-folder of ``folder`` with the highest step, or None."""
    checkpoints = sorted_checkpoints(folder)
    return checkpoints[-1] if checkpoints else None


def rotate_checkpoints(folder: str, save_total_limit: int | None, best_model_checkpoint: str | None = None):
    """Delete the oldest checkpoints beyond ``save_total_limit``, never the newest or the best one."""
    if not save_total_limit or save_total_limit <= 0:
        return
    checkpoints = sorted_checkpoints(folder)
    if len(checkpoints) <= save_total_limit:
        return
    protected = {os.path.normpath(checkpoints[-1])}  # the newest: it is what a resume picks up
    if best_model_checkpoint is not None:
        protected.add(os.path.normpath(best_model_checkpoint))
    keep = max(save_total_limit, len(protected))
    remaining = len(checkpoints)
    for path in checkpoints:
        if remaining <= keep:
            break
        if os.path.normpath(path) not in protected:
            shutil.rmtree(path, ignore_errors=True)
            remaining -= 1


def save_torch(obj, path: str):
    """``torch.save`` atomically (optimizer.pt, scheduler.pt, scaler.pt, rng_state.pth)."""
    from ..weights import torch_save_atomic

    torch_save_atomic(obj, path)


def save_text(path: str, text: str):
    """A JSON or text file, atomically (trainer_state.json, training_args.json)."""
    from ..configuration import write_text_atomic

    write_text_atomic(path, text)


# ---- random number generators ----------------------------------------------------------------
def save_rng_state(path: str):
    """Python, numpy and torch RNG states as tensors and tuples (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "cpu": torch.random.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.random.get_rng_state_all()
    save_torch(state, path)


def load_rng_state(path: str):
    state = torch.load(path, weights_only=True)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.random.set_rng_state(state["cpu"])
    cuda_states = state.get("cuda")
    if cuda_states is not None and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.random.set_rng_state_all(cuda_states)


# ---- model weights -----------------------------------------------------------------------------
def _shared_names(model: nn.Module) -> set[str]:
    """Names that are a second name for an earlier parameter (tied weights)."""
    seen, shared = set(), set()
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in seen:
            shared.add(name)
        seen.add(id(param))
    return shared


def save_bare_model(model: nn.Module, folder: str):
    """A model without save_pretrained: its state dict as model.safetensors (tied tensors once)."""
    from ..weights import clean_after_save, save_state_dict

    state, seen = {}, set()
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape), tensor.dtype)
        if key not in seen:
            state[name] = tensor.detach().contiguous()
            seen.add(key)
    clean_after_save(folder, save_state_dict(state, folder))


def load_model_weights(model: nn.Module, folder: str):
    """Load the weights saved in ``folder`` into ``model`` in place (resume, best model at end)."""
    from .. import weights as W

    index = os.path.join(folder, W.SAFE_WEIGHTS_INDEX_NAME)
    if os.path.isfile(os.path.join(folder, W.SAFE_WEIGHTS_NAME)):  # from_pretrained's order of preference
        state = W.load_checkpoint_files([os.path.join(folder, W.SAFE_WEIGHTS_NAME)])
    elif os.path.isfile(index):
        state = W.load_sharded(index, lambda shard: os.path.join(folder, shard))
    elif os.path.isfile(os.path.join(folder, W.WEIGHTS_NAME)):
        state = W.load_checkpoint_files([os.path.join(folder, W.WEIGHTS_NAME)])
    else:
        raise ValueError(f"Cannot load the model from {folder}: it holds no model.safetensors "
                         f"(nor sharded or pytorch_model.bin) weights.")
    if hasattr(model, "sanitize"):
        state = model.sanitize(state)
    result = model.load_state_dict(state, strict=False)
    # tied weights are saved once, under their source name
    tied = set(model._tie_pairs()) if hasattr(model, "_tie_pairs") else set()
    missing = [k for k in result.missing_keys if k not in tied and k not in _shared_names(model)]
    if missing or result.unexpected_keys:
        raise ValueError(f"The weights in {folder} do not fit {type(model).__name__}: missing "
                         f"{missing[:10]}, unexpected {result.unexpected_keys[:10]}. Resume with the same "
                         f"model class and config that wrote the checkpoint.")
    if hasattr(model, "tie_weights"):
        model.tie_weights()
