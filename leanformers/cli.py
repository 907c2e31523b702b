"""The ``leanformers`` command.

    leanformers run sentiment-analysis "I love this" "I hate this"     # JSON results on stdout
    leanformers run feature-extraction "hello" --model ./my-bert --device cpu
    leanformers run text-generation "Once upon a time" -m ./gpt2 -p max_new_tokens=20 -p do_sample=false
    echo "one text per line" | leanformers run text-classification --model ./clf
    leanformers env                                                    # versions, for bug reports

Each subcommand is one ``add_<name>_command(subparsers)`` function listed in ``COMMANDS``: it adds
its parser and sets ``handler``; adding a command is one function and one line. Start-up stays
lean: torch and the models are imported only inside the handlers that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

__all__ = ["main", "build_parser", "COMMANDS"]


class CommandError(Exception):
    """A user mistake: printed as one line on stderr, exit status 2, no traceback."""


# ---- run ---------------------------------------------------------------------------------------
def _parse_device(value: str | None):
    if value is None:
        return None
    try:
        return int(value)  # "0" -> CUDA device 0, "-1" -> CPU, as in pipeline(device=...)
    except ValueError:
        return value


def _jsonable(value):
    """Pipeline results as plain JSON values (tensors and numpy values become lists/numbers)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # torch.Tensor, numpy arrays and scalars
        return value.tolist()
    return value


def _run(args) -> int:
    texts = list(args.texts)
    if not texts or texts == ["-"]:
        if sys.stdin.isatty() and not texts:
            raise CommandError("give the texts as arguments, or pipe them in one per line (or pass '-').")
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not texts:
            raise CommandError("no texts: the standard input was empty.")
    from .pipelines import pipeline

    pipe_kwargs = dict(args.param)
    if args.top_k is not None:
        pipe_kwargs["top_k"] = None if args.top_k == "all" else int(args.top_k)
    try:
        pipe = pipeline(args.task, model=args.model, device=_parse_device(args.device), dtype=args.dtype,
                        batch_size=args.batch_size, **pipe_kwargs)
        results = pipe(texts)
    except (KeyError, ValueError, OSError, RuntimeError, ImportError, TypeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise CommandError(message) from None
    json.dump(_jsonable(results), sys.stdout, ensure_ascii=False, indent=args.indent)
    sys.stdout.write("\n")
    return 0


def _top_k(value: str):
    if value == "all" or (value.isdigit() and int(value) > 0):
        return value
    raise argparse.ArgumentTypeError("must be a positive integer or 'all'")


def _param(value: str) -> tuple[str, object]:
    """KEY=VALUE, the value read as JSON when it parses (numbers, true/false, null), else a string."""
    key, sep, raw = value.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (like max_new_tokens=20), got {value!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def _positive_int(value: str) -> int:
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError("must be a positive integer")


def add_run_command(subparsers):
    p = subparsers.add_parser(
        "run", help="run a pipeline on texts and print the results as JSON",
        description="Run a pipeline task on the given texts (or on standard input, one text per line) "
                    "and print one JSON document with one result per text.",
    )
    p.add_argument("task", help="a pipeline task: text-classification (sentiment-analysis), "
                                "feature-extraction, text-generation")
    p.add_argument("texts", nargs="*", help="texts to process; none or '-' reads standard input")
    p.add_argument("--model", "-m", default=None,
                   help="Hub id or local folder (default: the task's default model, if it has one)")
    p.add_argument("--batch-size", "-b", type=_positive_int, default=None, help="texts per forward pass (default 32)")
    p.add_argument("--device", "-d", default=None, help="cpu, cuda, cuda:0, 0, -1 ... (default: CUDA if available)")
    p.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: the checkpoint's own)")
    p.add_argument("--top-k", type=_top_k, default=None, help="text-classification: labels per text, or 'all'")
    p.add_argument("--param", "-p", type=_param, action="append", default=[], metavar="KEY=VALUE",
                   help="a pipeline parameter, repeatable: -p function_to_apply=sigmoid, "
                        "-p max_new_tokens=20 -p do_sample=false")
    p.add_argument("--indent", type=int, default=None, help="indent the JSON output by this many spaces")
    p.set_defaults(handler=_run)


# ---- env ---------------------------------------------------------------------------------------
def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def environment_info() -> dict:
    """What a bug report needs: versions, platform, accelerator, where models are cached."""
    from . import __version__
    from .hub import hf_cache_dir, is_offline

    info = {
        "leanformers": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": None,
        "numpy": _version("numpy"),
        "safetensors": _version("safetensors"),
        "huggingface_hub": _version("huggingface_hub"),
        "cuda_available": False,
        "cuda_devices": [],
        "mps_available": False,
        "torch_threads": None,
        "hf_cache_dir": hf_cache_dir(),
        "offline": is_offline(),
    }
    try:
        import torch
    except ImportError:
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    info["cuda_available"] = torch.cuda.is_available()
    if info["cuda_available"]:
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    info["mps_available"] = bool(mps and mps.is_available())
    return info


def _env(args) -> int:
    info = environment_info()
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


def add_env_command(subparsers):
    p = subparsers.add_parser("env", help="print versions and settings (for bug reports)",
                              description="Print leanformers, Python, torch and numpy versions, the "
                                          "platform, CUDA availability, the HF cache folder and offline mode.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of aligned text")
    p.set_defaults(handler=_env)


# ---- the command -------------------------------------------------------------------------------
# one registration function per subcommand; a new command adds its function here
COMMANDS = [add_run_command, add_env_command]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="leanformers", description="Run 🤗 Transformers-format models with leanformers.")
    parser.add_argument("--version", action="version", version=f"leanformers {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args)
    except CommandError as e:
        print(f"leanformers {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `leanformers run ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
