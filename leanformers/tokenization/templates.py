"""TemplateProcessing post-processors as tokenizer.json dicts: what the families build and what a
tokenizer's add_bos_token / add_eos_token settings rebuild."""

from __future__ import annotations


def template_processing(single: list, pair: list, special_ids: dict[str, int]) -> dict:
    """single / pair: lists of "$A:0"-style strings or "token:type" strings, as in the `tokenizers` API."""

    def convert(items):
        out = []
        for item in items:
            piece, sep, type_id = item.rpartition(":")
            if not sep or not type_id.isdigit():
                piece, type_id = item, "0"
            if piece in ("$A", "$B", "$"):
                out.append({"Sequence": {"id": "B" if piece == "$B" else "A", "type_id": int(type_id)}})
            else:
                out.append({"SpecialToken": {"id": piece, "type_id": int(type_id)}})
        return out

    specials = {tok: {"id": tok, "ids": [index], "tokens": [tok]} for tok, index in special_ids.items()}
    return {"type": "TemplateProcessing", "single": convert(single), "pair": convert(pair), "special_tokens": specials}


def bos_eos_template(bos: str | None, bos_id, eos: str | None, eos_id) -> dict:
    """The reference's `[bos] $A [eos]` / `[bos] $A [eos] [bos] $B [eos]` post-processor."""
    single = ([f"{bos}:0"] if bos else []) + ["$A:0"] + ([f"{eos}:0"] if eos else [])
    pair = single + ([f"{bos}:1"] if bos else []) + ["$B:1"] + ([f"{eos}:1"] if eos else [])
    special = {}
    if bos:
        special[bos] = bos_id
    if eos:
        special[eos] = eos_id
    return template_processing(single, pair, special)
