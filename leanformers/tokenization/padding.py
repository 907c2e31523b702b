"""`tokenizer.pad(...)` for already-encoded inputs, and the special-token layout helpers
(`build_inputs_with_special_tokens`, `get_special_tokens_mask`, `create_token_type_ids_from_sequences`)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from .batch_encoding import BatchEncoding


def _as_lists(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "tolist"):
        return [v.tolist() for v in value]
    return value


def _pad_row(tokenizer, row: dict, target: int | None, side: str, return_attention_mask: bool) -> dict:
    main = tokenizer.model_input_names[0]
    ids = row[main]
    if return_attention_mask and "attention_mask" not in row:
        row["attention_mask"] = [1] * len(ids)
    if target is None or len(ids) >= target:
        return row
    missing = target - len(ids)
    fills = {main: tokenizer.pad_token_id, "attention_mask": 0, "token_type_ids": tokenizer.pad_token_type_id,
             "special_tokens_mask": 1}
    for key, fill in fills.items():
        if key not in row or (key == "attention_mask" and not return_attention_mask):
            continue
        pad = [fill] * missing
        row[key] = list(row[key]) + pad if side == "right" else pad + list(row[key])
    return row


def pad_encoded_inputs(tokenizer, encoded_inputs, padding, max_length, pad_to_multiple_of, padding_side,
                       return_attention_mask, return_tensors, verbose) -> BatchEncoding:
    if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
        encoded_inputs = {key: [row[key] for row in encoded_inputs] for key in encoded_inputs[0].keys()}
    elif not isinstance(encoded_inputs, Mapping):
        raise TypeError(
            "pad() expects a dict of encoded inputs (or a list of them, as a DataLoader collate_fn gets them), "
            f"got {type(encoded_inputs).__name__}"
        )
    main = tokenizer.model_input_names[0]
    if main not in encoded_inputs:
        raise ValueError(
            "You should supply an encoding or a list of encodings to this method "
            f"that includes {main}, but you provided {list(encoded_inputs.keys())}"
        )
    required = encoded_inputs[main]
    if required is None or len(required) == 0:
        out = dict(encoded_inputs)
        if return_attention_mask:
            out["attention_mask"] = []
        return BatchEncoding(out)
    # Tensors in → tensors of the same kind out (unless asked otherwise).
    first = required[0]
    if hasattr(first, "__len__") and len(first) and not isinstance(first, (list, tuple)):
        first = first[0]
    if not isinstance(first, (int, list, tuple)):
        np = sys.modules.get("numpy")  # (not imported: nothing here can be a numpy array)
        np_types = (np.ndarray, np.generic) if np is not None else ()
        if hasattr(first, "dtype") and not isinstance(first, np_types) and type(first).__module__.startswith("torch"):
            return_tensors = return_tensors or "pt"
        elif isinstance(first, np_types):
            return_tensors = return_tensors or "np"
        elif type(first).__module__.startswith("torch"):
            return_tensors = return_tensors or "pt"
    encoded_inputs = {key: _as_lists(value) for key, value in encoded_inputs.items()}

    strategy, _, max_length = tokenizer._get_padding_truncation_strategies(
        padding=padding, max_length=max_length, verbose=verbose)
    if return_attention_mask is None:
        return_attention_mask = "attention_mask" in tokenizer.model_input_names
    side = padding_side or tokenizer.padding_side
    if side not in ("left", "right"):
        raise ValueError(f"padding_side should be 'right' or 'left', got {side!r}")

    def target_for(lengths):
        if strategy == "do_not_pad":
            return None
        target = max(lengths) if strategy == "longest" else max_length
        if target is not None and pad_to_multiple_of and target % pad_to_multiple_of:
            target = (target // pad_to_multiple_of + 1) * pad_to_multiple_of
        return target

    required = encoded_inputs[main]
    if required and not isinstance(required[0], (list, tuple)):  # one example
        row = _pad_row(tokenizer, dict(encoded_inputs), target_for([len(required)]), side, return_attention_mask)
        return BatchEncoding(row, tensor_type=return_tensors)
    batch_size = len(required)
    if any(len(v) != batch_size for v in encoded_inputs.values()):
        raise ValueError("Some items in the output dictionary have a different batch size than others.")
    target = target_for([len(r) for r in required])
    out: dict[str, list] = {}
    for i in range(batch_size):
        row = _pad_row(tokenizer, {k: v[i] for k, v in encoded_inputs.items()}, target, side, return_attention_mask)
        for key, value in row.items():
            out.setdefault(key, []).append(value)
    return BatchEncoding(out, tensor_type=return_tensors)


# ---- special-token layout -------------------------------------------------------------------------
def _template_from_processor(processor: dict | None):
    """(single, pair) as lists of ("A"|"B", type_id) or ([ids], type_id) items."""
    if processor is None:
        return [("A", 0)], [("A", 0), ("B", 1)]
    kind = processor.get("type")
    if kind == "Sequence":
        for inner in processor.get("processors", []):
            if inner.get("type") in ("TemplateProcessing", "BertProcessing", "RobertaProcessing"):
                return _template_from_processor(inner)
        return _template_from_processor(None)
    if kind == "TemplateProcessing":
        specials = processor.get("special_tokens", {})

        def convert(items):
            out = []
            for item in items:
                if "Sequence" in item:
                    out.append((item["Sequence"]["id"], item["Sequence"]["type_id"]))
                else:
                    token = item["SpecialToken"]
                    out.append((list(specials[token["id"]]["ids"]), token["type_id"]))
            return out

        return convert(processor["single"]), convert(processor["pair"])
    if kind == "BertProcessing":
        cls, sep = [processor["cls"][1]], [processor["sep"][1]]
        return [(cls, 0), ("A", 0), (sep, 0)], [(cls, 0), ("A", 0), (sep, 0), ("B", 1), (sep, 1)]
    if kind == "RobertaProcessing":
        cls, sep = [processor["cls"][1]], [processor["sep"][1]]
        return [(cls, 0), ("A", 0), (sep, 0)], [(cls, 0), ("A", 0), (sep, 0), (sep, 0), ("B", 0), (sep, 0)]
    return _template_from_processor(None)


def apply_special_layout(tokenizer, ids_a, ids_b=None):
    """(ids with special tokens, token type ids, special tokens mask) for one sequence or a pair."""
    if tokenizer._layout is None:
        tokenizer._layout = _template_from_processor(tokenizer._post_processor_json())
    single, pair = tokenizer._layout
    ids, types, mask = [], [], []
    for piece, type_id in (single if ids_b is None else pair):
        if piece == "A" or piece == "B":
            seq = list(ids_a if piece == "A" else ids_b)
            ids += seq
            types += [type_id] * len(seq)
            mask += [0] * len(seq)
        else:
            ids += piece
            types += [type_id] * len(piece)
            mask += [1] * len(piece)
    return ids, types, mask
