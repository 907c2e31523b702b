"""ChunkPipeline: pipelines whose one input becomes several model rows.

Question answering splits a long context into overlapping windows, zero-shot classification makes
one (text, hypothesis) pair per candidate label, token classification with ``stride`` splits a long
text. ``preprocess`` returns a list of rows (dicts of batch-1 tensors plus plain values, such as the
offsets or the candidate label, that ride along to ``postprocess``); ``postprocess`` gets the list of
its input's row outputs, in row order.

Rows of every input of a call are sorted by length together and cut into batches (each padded to
its own longest row), as ``Pipeline`` does for one-row inputs: 100 long contexts of 3 windows each
are 300 rows in batches of ``batch_size``, not 100 batches of 3. Each row's per-token outputs are cut
back to its own length before ``postprocess``, so results do not depend on the batch size.
"""

from __future__ import annotations

from .base import Pipeline, _sequence_length, _unbatch, pad_batch

__all__ = ["ChunkPipeline"]


class ChunkPipeline(Pipeline):
    # outputs and row entries whose dimension 1 is the sequence (cut back to a row's own length)
    sequence_keys = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask",
                     "offset_mapping", "p_mask", "logits", "start_logits", "end_logits")

    def run_single(self, inputs, preprocess_params, forward_params, postprocess_params):
        batch_size = self._batch_size or self.default_batch_size
        return self._run_sorted([inputs], batch_size, preprocess_params, forward_params, postprocess_params)[0]

    def _unpad(self, item_outputs, length: int, padded_length: int, padding_side: str):
        def cut(key, value):
            if key in self.sequence_keys and hasattr(value, "dim") and value.dim() >= 2 \
                    and value.shape[1] == padded_length:
                return value[:, padded_length - length:] if padding_side == "left" else value[:, :length]
            return value

        return {key: cut(key, value) for key, value in item_outputs.items()}

    def _run_sorted(self, inputs: list, batch_size: int, pre, fwd, post) -> list:
        rows, owners = [], []
        for index, item in enumerate(inputs):
            item_rows = self.preprocess(item, **pre)
            rows.extend(item_rows)
            owners.extend([index] * len(item_rows))
        lengths = [_sequence_length(row) for row in rows]
        order = sorted(range(len(rows)), key=lengths.__getitem__)
        padding_side = getattr(self.tokenizer, "padding_side", "right") or "right"
        pad_token_id = getattr(self.tokenizer, "pad_token_id", None)
        row_outputs = [None] * len(rows)
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            batch = rows[indices[0]] if len(indices) == 1 else \
                pad_batch([rows[i] for i in indices], pad_token_id, padding_side)
            outputs = dict(self.forward(batch, **fwd))
            longest = max(lengths[i] for i in indices)
            for position, i in enumerate(indices):
                item = _unbatch(outputs, position, len(indices)) if len(indices) > 1 else outputs
                if lengths[i] != longest:
                    item = self._unpad(item, lengths[i], longest, padding_side)
                row_outputs[i] = item
                rows[i] = None  # free as we go
        grouped = [[] for _ in inputs]
        for owner, output in zip(owners, row_outputs):
            grouped[owner].append(output)
        return [self.postprocess(outputs, **post) for outputs in grouped]
