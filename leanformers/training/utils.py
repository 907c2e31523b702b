"""Small pieces the Trainer shares: seeds, result tuples, nested tensors, checkpoints, processes."""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

__all__ = [
    "set_seed", "EvalPrediction", "TrainOutput", "PredictionOutput", "EvalLoopOutput", "speed_metrics",
    "find_labels", "nested_numpify", "nested_concat_padded", "nested_interleave", "gather_objects",
]

def set_seed(seed: int, deterministic: bool = False):
    """Seed python, numpy and torch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)


class EvalPrediction:
    """What ``compute_metrics`` receives: ``predictions`` and ``label_ids`` (numpy arrays, or tuples of
    them); it also unpacks as ``logits, labels = eval_pred``."""

    def __init__(self, predictions, label_ids, inputs=None, losses=None):
        self.predictions = predictions
        self.label_ids = label_ids
        self.inputs = inputs
        self.losses = losses
        self.elements = (predictions, label_ids)
        if inputs is not None:
            self.elements += (inputs,)
        if losses is not None:
            self.elements += (losses,)

    def __iter__(self):
        return iter(self.elements)

    def __getitem__(self, idx):
        if idx < 0 or idx >= len(self.elements):
            raise IndexError("tuple index out of range")
        return self.elements[idx]

    def __len__(self):
        return len(self.elements)


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, float]


class PredictionOutput(NamedTuple):
    predictions: Any
    label_ids: Any
    metrics: dict[str, float] | None


class EvalLoopOutput(NamedTuple):
    predictions: Any
    label_ids: Any
    metrics: dict[str, float] | None
    num_samples: int | None


def speed_metrics(split: str, start_time: float, num_samples=None, num_steps=None) -> dict[str, float]:
    runtime = time.time() - start_time
    result = {f"{split}_runtime": round(runtime, 4)}
    if runtime == 0:
        return result
    if num_samples is not None:
        result[f"{split}_samples_per_second"] = round(num_samples / runtime, 3)
    if num_steps is not None:
        result[f"{split}_steps_per_second"] = round(num_steps / runtime, 3)
    return result


def find_labels(model_class) -> list[str]:
    """The forward arguments that carry targets: any name containing 'label' (QA: start/end positions)."""
    params = inspect.signature(model_class.forward).parameters
    if "QuestionAnswering" in model_class.__name__:
        return [p for p in params if "label" in p or p in ("start_positions", "end_positions")]
    return [p for p in params if "label" in p]


def denumpify(metrics):
    """numpy scalars and 0-d tensors -> Python numbers, so metrics are JSON-serialisable."""
    if isinstance(metrics, (list, tuple)):
        return type(metrics)(denumpify(m) for m in metrics)
    if isinstance(metrics, dict):
        return type(metrics)({k: denumpify(v) for k, v in metrics.items()})
    if isinstance(metrics, np.generic):
        return metrics.item()
    if isinstance(metrics, torch.Tensor) and metrics.numel() == 1:
        return metrics.item()
    return metrics


# ---- nested tensors (model outputs may be tensors or tuples of tensors) -------------------------
def nested_numpify(value):
    if isinstance(value, (list, tuple)):
        return type(value)(nested_numpify(v) for v in value)
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()  # numpy has no bfloat16
        return t.numpy()
    return value


def concat_padded(arrays: list[np.ndarray], padding_index: int = -100) -> np.ndarray:
    """Concatenate along dim 0; rows of different length (dim 1) are padded with ``padding_index``."""
    if len(arrays) == 1:
        return arrays[0]
    first = arrays[0]
    if first.ndim < 2 or all(a.shape[1:] == first.shape[1:] for a in arrays):
        return np.concatenate(arrays, axis=0)
    width = max(a.shape[1] for a in arrays)
    out = np.full((sum(a.shape[0] for a in arrays), width, *first.shape[2:]), padding_index, dtype=first.dtype)
    row = 0
    for a in arrays:
        out[row:row + a.shape[0], :a.shape[1]] = a
        row += a.shape[0]
    return out


def nested_concat_padded(batches: list, padding_index: int = -100):
    """Concatenate a list of per-batch values (arrays or same-shaped tuples of arrays)."""
    if not batches:
        return None
    if isinstance(batches[0], (list, tuple)):
        return type(batches[0])(nested_concat_padded([b[i] for b in batches], padding_index)
                                for i in range(len(batches[0])))
    return concat_padded(batches, padding_index)


def _pad_dim1(a: np.ndarray, width: int, padding_index: int = -100) -> np.ndarray:
    if a.ndim < 2 or a.shape[1] == width:
        return a
    out = np.full((a.shape[0], width, *a.shape[2:]), padding_index, dtype=a.dtype)
    out[:, :a.shape[1]] = a
    return out


def nested_interleave(per_rank: list):
    """Undo a strided split: rank r held samples r, r+N, r+2N, ... (see ShardSampler)."""
    if per_rank[0] is None:
        return None
    if isinstance(per_rank[0], (list, tuple)):
        return type(per_rank[0])(nested_interleave([p[i] for p in per_rank]) for i in range(len(per_rank[0])))
    if len(per_rank) == 1:
        return per_rank[0]
    first = per_rank[0]
    if first.ndim >= 2:
        width = max(a.shape[1] for a in per_rank)
        per_rank = [_pad_dim1(a, width) for a in per_rank]
    out = np.empty((sum(len(a) for a in per_rank), *per_rank[0].shape[1:]), dtype=first.dtype)
    for rank, array in enumerate(per_rank):
        out[rank::len(per_rank)] = array
    return out


class ShardSampler(torch.utils.data.Sampler):
    """Rank r of N evaluates samples r, r+N, r+2N, ...: every sample exactly once (unlike a
    DistributedSampler, which repeats samples to even out the shards), so gathered metrics are exact."""

    def __init__(self, num_samples: int, rank: int, world_size: int):
        self.indices = range(rank, num_samples, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


# ---- data ------------------------------------------------------------------------------------------
class SkippingBatchSampler(torch.utils.data.Sampler):
    """Batches of a sampler's indices; ``skip`` drops the first batches of the next pass (resume)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        self.sampler, self.batch_size, self.drop_last, self.skip = sampler, batch_size, drop_last, 0

    def __iter__(self):
        skip, self.skip = self.skip, 0
        batch, seen = [], 0
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                if seen >= skip:
                    yield batch
                seen += 1
                batch = []
        if batch and not self.drop_last and seen >= skip:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class RemoveColumnsCollator:
    """Drops row keys the model's forward does not take, then collates."""

    def __init__(self, collator, keep: set[str]):
        self.collator, self.keep = collator, keep

    def __call__(self, features):
        if isinstance(features[0], Mapping):
            features = [{k: v for k, v in f.items() if k in self.keep} for f in features]
        return self.collator(features)


def batch_size_of(inputs) -> int:
    for value in (inputs.values() if isinstance(inputs, Mapping) else inputs):
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            return value.shape[0]
    return 1


# ---- processes ---------------------------------------------------------------------------------
def dist_ready() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def gather_objects(obj) -> list:
    """Every rank's ``obj``, in rank order (just ``[obj]`` in a single process)."""
    if not dist_ready() or torch.distributed.get_world_size() == 1:
        return [obj]
    out = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def barrier():
    if dist_ready():
        torch.distributed.barrier()
