"""token-classification (alias ner): a label for each token, or entities grouped from them.

Results are shaped as transformers 4.57's, numpy float32 scores included:

- ``aggregation_strategy="none"`` (default): one dict per token not labelled "O" (``ignore_labels``):
  ``{'entity', 'score', 'index', 'word', 'start', 'end'}``, ``word`` the raw token ("##ing", "Ġworld");
- ``"simple"``: neighbouring tokens with the same tag (B-X then I-X...) become one
  ``{'entity_group', 'score' (mean), 'word', 'start', 'end'}``;
- ``"first"`` / ``"average"`` / ``"max"``: tokens are first joined into words (a word takes the label of
  its first token, of its tokens' mean scores, or of its best-scored token), then grouped as "simple".

A token continues a word when the tokenizer marks continuations (WordPiece's "##": the token's text
is longer than what it covers in the sentence); otherwise (byte-level BPE, SentencePiece) when no space
is right before it, the reference's heuristic, with its warning.

The v4 spellings ``grouped_entities=True`` (→ "simple") and ``grouped_entities=True,
ignore_subwords=True`` (→ "first") still work. ``stride`` splits a text longer than the model into
overlapping windows (the overlaps' entities are merged), ``is_split_into_words=True`` takes
pre-split words.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .chunk import ChunkPipeline

__all__ = ["TokenClassificationPipeline", "AggregationStrategy"]


class AggregationStrategy:
    NONE = "none"
    SIMPLE = "simple"
    FIRST = "first"
    AVERAGE = "average"
    MAX = "max"
    ALL = (NONE, SIMPLE, FIRST, AVERAGE, MAX)
    WORD_BASED = (FIRST, AVERAGE, MAX)


def _strategy(value) -> str:
    name = str(getattr(value, "value", value)).lower()
    if name not in AggregationStrategy.ALL:
        raise ValueError(f"aggregation_strategy={value!r} is not one of {', '.join(map(repr, AggregationStrategy.ALL))}.")
    return name


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _tag(label: str) -> tuple[str, str]:
    """("B" or "I", entity type): "B-PER" → ("B", "PER"); a label without a prefix counts as "I"."""
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


class TokenClassificationPipeline(ChunkPipeline):
    """Label tokens with any ``*ForTokenClassification`` model; see the module docstring.

    Parameters (constructor or call): ``aggregation_strategy``, ``ignore_labels`` (default ``["O"]``),
    ``grouped_entities`` / ``ignore_subwords`` (v4 aliases), ``stride``, ``is_split_into_words``,
    ``delimiter`` (joins pre-split words, default " ").
    """

    def _sanitize_parameters(self, ignore_labels=None, grouped_entities=None, ignore_subwords=None,
                             aggregation_strategy=None, offset_mapping=None, is_split_into_words=False,
                             stride=None, delimiter=None):
        if offset_mapping is not None:
            raise ValueError("offset_mapping is for tokenizers that cannot give offsets; leanformers tokenizers "
                             "always do, so leave it out.")
        preprocess_params = {"is_split_into_words": is_split_into_words}
        if is_split_into_words:
            preprocess_params["delimiter"] = " " if delimiter is None else delimiter
        postprocess_params = {}
        if grouped_entities is not None or ignore_subwords is not None:
            # the v4 spellings, kept for the course and older tutorials
            if grouped_entities and ignore_subwords:
                aggregation_strategy = AggregationStrategy.FIRST
            elif grouped_entities:
                aggregation_strategy = AggregationStrategy.SIMPLE
            else:
                aggregation_strategy = AggregationStrategy.NONE
            for name, value in (("grouped_entities", grouped_entities), ("ignore_subwords", ignore_subwords)):
                if value is not None:
                    warnings.warn(f"`{name}` is the older spelling of aggregation_strategy: using "
                                  f'`aggregation_strategy="{aggregation_strategy}"`.')
        if aggregation_strategy is not None:
            aggregation_strategy = _strategy(aggregation_strategy)
            postprocess_params["aggregation_strategy"] = aggregation_strategy
        if ignore_labels is not None:
            postprocess_params["ignore_labels"] = ignore_labels
        if stride is not None:
            if stride >= self.tokenizer.model_max_length:
                raise ValueError(f"stride ({stride}) must be less than the tokenizer's model_max_length "
                                 f"({self.tokenizer.model_max_length}), less its special tokens.")
            if aggregation_strategy in (None, AggregationStrategy.NONE):
                raise ValueError('stride splits long texts, and merging the windows needs entities: pass '
                                 'aggregation_strategy="simple" (or "first", "average", "max") with it.')
            preprocess_params["stride"] = stride
        return preprocess_params, {}, postprocess_params

    def __call__(self, inputs=None, *args, **kwargs):
        """Label one text (str) or each text of a list; with ``is_split_into_words=True`` a list of
        words is one input (and its result comes in a one-item list, as the reference)."""
        if isinstance(inputs, (list, tuple)) and len(inputs) == 0:
            raise ValueError("At least one input is required: pass a text or a list of texts.")
        if kwargs.get("is_split_into_words") and isinstance(inputs, (list, tuple)) \
                and not all(isinstance(item, list) for item in inputs):
            inputs = [inputs]
        return super().__call__(inputs, *args, **kwargs)

    def preprocess(self, sentence, is_split_into_words=False, delimiter=None, stride=None):
        word_to_chars = None
        tokenizer_kwargs = {}
        if is_split_into_words:
            if not isinstance(sentence, (list, tuple)):
                raise ValueError("With is_split_into_words=True each input must be a list of words, not "
                                 f"{type(sentence).__name__}.")
            words = list(sentence)
            sentence = delimiter.join(words)  # the text that start/end point into
            word_to_chars, position = [], 0
            for word in words:
                word_to_chars.append((position, position + len(word)))
                position += len(word) + len(delimiter)
            text, tokenizer_kwargs["is_split_into_words"] = words, True
        elif not isinstance(sentence, str):
            raise TypeError(f"token-classification takes a text (str) or a list of texts, not "
                            f"{type(sentence).__name__} (pass is_split_into_words=True for pre-split words).")
        else:
            text = sentence
        if stride is not None:
            tokenizer_kwargs.update(return_overflowing_tokens=True, stride=stride)
        max_length = self.tokenizer.model_max_length
        encoding = self.tokenizer(text, truncation=bool(max_length and max_length > 0),
                                  return_special_tokens_mask=True, return_offsets_mapping=True, **tokenizer_kwargs)
        model_keys = [k for k in encoding if k not in ("overflow_to_sample_mapping",)]
        chunks = encoding["input_ids"] if stride is not None else [encoding["input_ids"]]
        rows = []
        for i in range(len(chunks)):
            row = {}
            for key in model_keys:
                value = encoding[key][i] if stride is not None else encoding[key]
                row[key] = torch.tensor([value], dtype=torch.long)
            row["sentence"] = sentence
            if word_to_chars is not None:
                row["word_ids"] = encoding.word_ids(i)
                row["word_to_chars"] = word_to_chars
            rows.append(row)
        return rows

    def _forward(self, rows):
        model_inputs = {k: rows[k] for k in self.tokenizer.model_input_names if k in rows}
        outputs = self.model(**model_inputs)
        return {**rows, "logits": outputs["logits"]}

    def postprocess(self, rows, aggregation_strategy=AggregationStrategy.NONE, ignore_labels=None):
        ignore_labels = ["O"] if ignore_labels is None else ignore_labels
        entities = []
        for row in rows:
            scores = _softmax(row["logits"][0].float().numpy())
            pre_entities = self._pre_entities(row, scores, aggregation_strategy)
            for entity in self._aggregate(pre_entities, aggregation_strategy):
                if entity.get("entity") not in ignore_labels and entity.get("entity_group") not in ignore_labels:
                    entities.append(entity)
        return self._merge_overlaps(entities) if len(rows) > 1 else entities

    # ---- tokens -> entities ---------------------------------------------------------------------------
    def _pre_entities(self, row, scores, aggregation_strategy) -> list[dict]:
        """One dict per non-special token: its token text, scores, character span, whether it
        continues the word before it."""
        sentence = row["sentence"]
        input_ids = row["input_ids"][0].tolist()
        offsets = row["offset_mapping"][0].tolist()
        special = row["special_tokens_mask"][0].tolist()
        word_ids, word_to_chars = row.get("word_ids"), row.get("word_to_chars")
        model = getattr(getattr(self.tokenizer, "_tokenizer", None), "model", None)
        marks_continuations = bool(getattr(model, "continuing_subword_prefix", None))
        unk_id = self.tokenizer.unk_token_id
        tokens = self.tokenizer.convert_ids_to_tokens(input_ids)  # one call per row, not per token
        result = []
        for index, token_scores in enumerate(scores):
            if special[index]:
                continue
            token = tokens[index]
            start, end = offsets[index]
            if word_ids is not None and word_to_chars is not None and word_ids[index] is not None:
                # offsets of pre-split words are within each word: shift them into the joined text
                word_start = word_to_chars[word_ids[index]][0]
                start, end = start + word_start, end + word_start
            covered = sentence[start:end]
            if marks_continuations:
                is_subword = len(token) != len(covered)
            else:
                if aggregation_strategy in AggregationStrategy.WORD_BASED:
                    warnings.warn("Tokenizer does not support real words, using fallback heuristic", UserWarning)
                is_subword = start > 0 and " " not in sentence[start - 1:start + 1]
            if input_ids[index] == unk_id:
                token, is_subword = covered, False
            result.append({"word": token, "scores": token_scores, "start": start, "end": end, "index": index,
                           "is_subword": is_subword})
        return result

    def _aggregate(self, pre_entities, aggregation_strategy) -> list[dict]:
        id2label = self.model.config.id2label
        if aggregation_strategy in (AggregationStrategy.NONE, AggregationStrategy.SIMPLE):
            entities = []
            for pre in pre_entities:
                best = pre["scores"].argmax()
                entities.append({"entity": id2label[int(best)], "score": pre["scores"][best], "index": pre["index"],
                                 "word": pre["word"], "start": pre["start"], "end": pre["end"]})
        else:
            entities = [self._word_entity(word, aggregation_strategy) for word in self._words(pre_entities)]
        if aggregation_strategy == AggregationStrategy.NONE:
            return entities
        return self._group(entities)

    @staticmethod
    def _words(pre_entities) -> list[list[dict]]:
        words = []
        for pre in pre_entities:
            if words and pre["is_subword"]:
                words[-1].append(pre)
            else:
                words.append([pre])
        return words

    def _word_entity(self, tokens: list[dict], aggregation_strategy) -> dict:
        """One word's label: of its first token, of its best-scored token, or of its mean scores."""
        if aggregation_strategy == AggregationStrategy.FIRST:
            scores = tokens[0]["scores"]
        elif aggregation_strategy == AggregationStrategy.MAX:
            scores = max(tokens, key=lambda t: t["scores"].max())["scores"]
        else:
            scores = np.nanmean(np.stack([t["scores"] for t in tokens]), axis=0)
        best = scores.argmax()
        return {"entity": self.model.config.id2label[int(best)], "score": scores[best],
                "word": self.tokenizer.convert_tokens_to_string([t["word"] for t in tokens]),
                "start": tokens[0]["start"], "end": tokens[-1]["end"]}

    def _group(self, entities: list[dict]) -> list[dict]:
        """Neighbours of one entity type join unless the next one begins a new entity (B-)."""
        groups = []
        for entity in entities:
            bi, tag = _tag(entity["entity"])
            if groups and bi != "B" and tag == _tag(groups[-1][-1]["entity"])[1]:
                groups[-1].append(entity)
            else:
                groups.append([entity])
        return [{"entity_group": group[0]["entity"].split("-", 1)[-1],
                 "score": _group_score(group),
                 "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in group]),
                 "start": group[0]["start"], "end": group[-1]["end"]} for group in groups]

    @staticmethod
    def _merge_overlaps(entities: list[dict]) -> list[dict]:
        """Entities of overlapping windows: of two that overlap keep the longer (then the better scored)."""
        if not entities:
            return entities
        entities = sorted(entities, key=lambda e: e["start"])
        merged, kept = [], entities[0]
        for entity in entities:
            if kept["start"] <= entity["start"] < kept["end"]:
                length, kept_length = entity["end"] - entity["start"], kept["end"] - kept["start"]
                if length > kept_length or (length == kept_length and entity["score"] > kept["score"]):
                    kept = entity
            else:
                merged.append(kept)
                kept = entity
        merged.append(kept)
        return merged


def _group_score(group: list[dict]):
    """The mean of the group's scores, NaNs left out: np.mean(np.nanmean(scores)) computed by the same
    steps (one float sum, then the sum over the count as an intp, back to the float type), without
    numpy's nanmean machinery per group. A group of one (every run of "O" tokens between entities is a
    group too) keeps its score as it is, which is what the mean of one number gives."""
    if len(group) == 1 and not np.isnan(group[0]["score"]):
        return group[0]["score"]
    scores = np.asanyarray([e["score"] for e in group])
    if scores.dtype.kind == "f" and not np.isnan(scores).any():
        total = scores.sum()
        return total.dtype.type(total / np.intp(scores.size))
    return np.mean(np.nanmean(scores))
