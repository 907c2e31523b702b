"""The ``leanformers`` command.

    leanformers run sentiment-analysis "I love this" "I hate this"     # JSON results on stdout
    leanformers run feature-extraction "hello" --model ./my-bert --device cpu
    leanformers run ner "My name is Sarah and I live in London" -p aggregation_strategy=simple
    leanformers run question-answering --question "Where do I live?" --context "I live in Berlin."
    leanformers run zero-shot-classification "I need my phone fixed" --labels "urgent,phone,tablet"
    leanformers run text-generation "Once upon a time" -m ./gpt2 -p max_new_tokens=20 -p do_sample=true
    leanformers run text-generation "What is the capital of France?" -m ./SmolLM2-135M-Instruct.Q4_1.gguf
    echo "one text per line" | leanformers run text-classification --model ./clf
    leanformers chat --model ./SmolLM2-135M-Instruct.Q4_1.gguf --system "You are a concise assistant."
    leanformers serve --model ./SmolLM2-135M-Instruct.Q4_1.gguf --port 8000   # OpenAI-compatible server
    leanformers chat --url http://127.0.0.1:8000                       # chat with a running server
    leanformers env                                                    # versions, for bug reports

Each subcommand is one ``add_<name>_command(subparsers)`` function listed in ``COMMANDS``: it adds
its parser and sets ``handler``; adding a command is one function and one line. Start-up stays
lean: torch and the models are imported only inside the handlers that need them.
"""

from __future__ import annotations

import argparse
import itertools
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
    from .pipelines import check_task, pipeline

    try:
        task = check_task(args.task)[0]
    except KeyError as e:
        raise CommandError(e.args[0]) from None
    _check_task_options(task, args)
    texts = list(args.texts)
    if task == "question-answering" and args.question:
        if texts:
            raise CommandError("give the questions either as --question or as texts, not both.")
        texts = list(args.question)
    if not texts or texts == ["-"]:
        if sys.stdin.isatty() and not texts:
            raise CommandError("give the texts as arguments, or pipe them in one per line (or pass '-').")
        texts = (line.rstrip("\n") for line in sys.stdin if line.strip())
        if not args.jsonl:  # one JSON document needs every text; --jsonl streams them as they come
            texts = list(texts)
            if not texts:
                raise CommandError("no texts: the standard input was empty.")

    pipe_kwargs = dict(args.param)
    if args.top_k is not None:
        pipe_kwargs["top_k"] = None if args.top_k == "all" else int(args.top_k)
    if args.gguf_file is not None:
        pipe_kwargs["gguf_file"] = args.gguf_file
    if args.quantization is not None:
        pipe_kwargs["quantization"] = args.quantization
    try:
        pipe = pipeline(args.task, model=args.model, device=_parse_device(args.device), dtype=args.dtype,
                        batch_size=args.batch_size, **pipe_kwargs)
        call_kwargs = {}
        if pipe.task == "text-generation" and "do_sample" not in pipe_kwargs:
            call_kwargs["do_sample"] = False  # the command is greedy (reproducible) unless asked to sample
        if args.jsonl:  # one line per result, a batch at a time: memory stays bounded on any input
            texts = iter(texts)
            while chunk := list(itertools.islice(texts, pipe._batch_size or pipe.default_batch_size)):
                for result in _results(pipe, task, chunk, args, call_kwargs):
                    sys.stdout.write(json.dumps(_jsonable(result), ensure_ascii=False) + "\n")
                sys.stdout.flush()
            return 0
        results = _results(pipe, task, texts, args, call_kwargs)
    except (KeyError, ValueError, OSError, RuntimeError, ImportError, TypeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise CommandError(message) from None
    json.dump(_jsonable(results), sys.stdout, ensure_ascii=False, indent=args.indent)
    sys.stdout.write("\n")
    return 0


def _results(pipe, task: str, texts: list[str], args, call_kwargs: dict) -> list:
    """One result per text: the questions of question-answering, the texts of zero-shot with --labels."""
    if task == "question-answering":
        results = pipe(question=texts, context=args.context, **call_kwargs)
    elif task == "zero-shot-classification":
        results = pipe(texts, candidate_labels=args.labels, **call_kwargs)
    else:
        results = pipe(_as_chats(texts, pipe, args), **call_kwargs)
    if len(texts) == 1 and task in ("question-answering", "fill-mask"):
        results = [results]  # these pipelines unwrap a one-item list
    return results


def _check_task_options(task: str, args):
    """--question/--context belong to question-answering, --labels to zero-shot-classification."""
    if task == "question-answering":
        if args.context is None:
            raise CommandError("question-answering needs --context TEXT, and the questions as --question (repeatable) "
                               "or as texts.")
    elif args.context is not None or args.question:
        raise CommandError(f"--question and --context apply to question-answering, not to {task}.")
    if task == "zero-shot-classification":
        if not args.labels:
            raise CommandError("zero-shot-classification needs --labels, e.g. --labels 'sports,politics,science'.")
    elif args.labels is not None:
        raise CommandError(f"--labels applies to zero-shot-classification, not to {task}.")


def _as_chats(texts: list[str], pipe, args) -> list:
    """text-generation with a chat model: each text becomes one user message of its own chat (the
    pipeline renders it with the tokenizer's chat template), else the texts are continued as they are."""
    template = getattr(pipe.tokenizer, "chat_template", None)
    if pipe.task != "text-generation":
        if args.chat or args.system is not None:
            raise CommandError(f"--chat and --system apply to text-generation, not to {pipe.task}.")
        return texts
    use_chat = bool(template) if args.chat is None else args.chat
    if use_chat and not template:
        raise CommandError(f"--chat needs a tokenizer with a chat template, and {args.model}'s has none. "
                           f"Drop --chat to continue the texts as they are.")
    if not use_chat:
        if args.system is not None:
            raise CommandError("--system needs chat prompts: drop --no-chat (or --system).")
        return texts
    system = [{"role": "system", "content": args.system}] if args.system is not None else []
    return [system + [{"role": "user", "content": text}] for text in texts]


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
    p.add_argument("task", help="a pipeline task: text-classification (sentiment-analysis), feature-extraction, "
                                "text-generation, fill-mask, token-classification (ner), question-answering, "
                                "zero-shot-classification, summarization, translation_XX_to_YY, "
                                "text2text-generation")
    p.add_argument("texts", nargs="*", help="texts to process; none or '-' reads standard input")
    p.add_argument("--model", "-m", default=None,
                   help="Hub id, local folder or .gguf file (default: the task's default model, if it has one)")
    p.add_argument("--gguf-file", default=None, metavar="NAME",
                   help="load model and tokenizer from this GGUF file inside the --model folder or Hub repo")
    p.add_argument("--batch-size", "-b", type=_positive_int, default=None, help="texts per forward pass (default 32)")
    p.add_argument("--device", "-d", default=None, help="cpu, cuda, cuda:0, 0, -1 ... (default: CUDA if available)")
    p.add_argument("--dtype", default=None,
                   help="float32 (fp32), bfloat16 (bf16), float16 (fp16) or auto (default: the checkpoint's own)")
    p.add_argument("--quantization", "-q", default=None, choices=["int8", "int4", "gguf"],
                   help="weight-only quantized CPU inference: int8 / int4 (any checkpoint), or gguf (keep a "
                        ".gguf file's own quantization); default: float weights")
    p.add_argument("--top-k", type=_top_k, default=None,
                   help="text-classification: labels per text, or 'all'; fill-mask: guesses per mask; "
                        "question-answering: answers per question")
    p.add_argument("--question", action="append", default=None, metavar="TEXT",
                   help="question-answering: a question (repeatable; or give the questions as texts)")
    p.add_argument("--context", default=None, metavar="TEXT",
                   help="question-answering: the context the answers are taken from")
    p.add_argument("--labels", default=None, metavar="A,B,...",
                   help="zero-shot-classification: the candidate labels, comma-separated")
    p.add_argument("--param", "-p", type=_param, action="append", default=[], metavar="KEY=VALUE",
                   help="a pipeline parameter, repeatable: -p function_to_apply=sigmoid, "
                        "-p max_new_tokens=20 -p do_sample=true")
    p.add_argument("--chat", action=argparse.BooleanOptionalAction, default=None,
                   help="text-generation: send each text as a user message, rendered with the tokenizer's "
                        "chat template, and print the conversation with the assistant's reply (default: on "
                        "when the tokenizer has a chat template, as instruct models do; --no-chat continues "
                        "the raw text). Decoding is greedy unless -p do_sample=true (then the pipeline's "
                        "temperature 0.7); up to 256 new tokens unless -p max_new_tokens=N")
    p.add_argument("--system", default=None, help="text-generation with --chat: a system message before each text")
    p.add_argument("--indent", type=int, default=None, help="indent the JSON output by this many spaces")
    p.add_argument("--jsonl", action="store_true",
                   help="print one JSON result per line, a batch at a time, reading standard input as it "
                        "comes (bounded memory on long or endless inputs), instead of one JSON document at the end")
    p.set_defaults(handler=_run)


# ---- chat --------------------------------------------------------------------------------------
CHAT_HELP = "/reset forgets the conversation, /exit or /quit (or Ctrl-D) ends it, Ctrl-C stops a reply"


def chat_loop(read_line, reply, write, system: str | None = None) -> list[dict]:
    """The conversation, independent of any model (tests drive it with a fake ``reply``).

    ``read_line()`` gives the next line, or None at the end of the input. Each line is a command
    (``/exit``, ``/quit``, ``/reset``, ``/help``) or a user turn: ``reply(messages, emit)`` then
    writes the assistant's answer piece by piece through ``emit`` and the answer joins the history.
    Ctrl-C during a reply stops that reply (the part already shown is kept) and the chat goes on.
    Returns the history at the end.
    """
    start = [{"role": "system", "content": system}] if system is not None else []
    history = list(start)
    while True:
        line = read_line()
        if line is None:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            history = list(start)
            write("(conversation cleared)\n")
            continue
        if text == "/help":
            write(CHAT_HELP + "\n")
            continue
        history.append({"role": "user", "content": text})
        pieces = []

        def emit(piece: str):
            pieces.append(piece)
            write(piece)

        try:
            reply(history, emit)
        except KeyboardInterrupt:
            write(" [stopped]\n" if pieces else "[stopped]\n")
            if not pieces:  # nothing was said: as if the question had not been asked
                history.pop()
                continue
        except (ValueError, RuntimeError) as e:  # e.g. the conversation outgrew the model's context
            history.pop()
            write(f"[error: {e} /reset starts a new conversation]\n")
            continue
        else:
            write("\n")
        history.append({"role": "assistant", "content": "".join(pieces)})
    return history


def _model_reply(model, tokenizer, generate_kwargs: dict):
    """``reply(messages, emit)`` for ``chat_loop``: render the chat with the tokenizer's template and
    generate, streaming the new text (special tokens left out) to ``emit`` as it comes."""
    from .generation.streamers import TextStreamer

    class EmittingStreamer(TextStreamer):
        def __init__(self, emit):
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.emit = emit

        def on_finalized_text(self, text: str, stream_end: bool = False):
            if text:
                self.emit(text)

    def reply(messages, emit):
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                               return_tensors="pt")
        inputs = {name: tensor.to(model.device) for name, tensor in inputs.items()}
        model.generate(**inputs, streamer=EmittingStreamer(emit), **generate_kwargs)

    return reply


def _read_line_function(stdin, write):
    """Lines from a terminal (with a prompt and line editing) or from a pipe; None at the end."""
    if not stdin.isatty():
        def read_piped():
            line = stdin.readline()
            return line if line else None
        return read_piped

    try:
        import readline  # noqa: F401  (arrow keys and history at the prompt, where available)
    except ImportError:
        pass

    def read_terminal():
        try:
            return input(">>> ")
        except EOFError:
            write("\n")
            return None
        except KeyboardInterrupt:  # at the prompt: drop the line, keep the chat
            write(f"\n({CHAT_HELP})\n")
            return ""
    return read_terminal


def _chat(args) -> int:
    if not args.do_sample and (args.temperature is not None or args.top_p is not None):
        raise CommandError("--temperature and --top-p apply only when sampling: add --do-sample.")
    if args.url is not None:
        return _chat_remote(args)
    if args.model is None:
        raise CommandError("name a model (--model) or a running server (--url).")
    if args.api_key is not None:
        raise CommandError("--api-key is for a server (--url).")
    from .pipelines import pipeline

    extra = {"gguf_file": args.gguf_file} if args.gguf_file is not None else {}
    if args.quantization is not None:
        extra["quantization"] = args.quantization
    try:
        pipe = pipeline("text-generation", model=args.model, device=_parse_device(args.device),
                        dtype=args.dtype, **extra)
    except (KeyError, ValueError, OSError, RuntimeError, ImportError, TypeError) as e:
        raise CommandError(str(e)) from None
    model, tokenizer = pipe.model, pipe.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        raise CommandError(f"{args.model}'s tokenizer has no chat template, so a conversation cannot be "
                           f"rendered; use a chat (instruct) model, or `leanformers run text-generation "
                           f"--no-chat` to continue plain text.")
    generate_kwargs = {"max_new_tokens": args.max_new_tokens, "do_sample": args.do_sample}
    if args.do_sample:
        generate_kwargs.update({k: v for k, v in (("temperature", args.temperature), ("top_p", args.top_p))
                                if v is not None})
    if getattr(tokenizer, "pad_token_id", None) is not None:
        generate_kwargs["pad_token_id"] = tokenizer.pad_token_id

    def write(text: str):
        sys.stdout.write(text)
        sys.stdout.flush()

    if sys.stdin.isatty():
        write(f"Chatting with {args.model} ({CHAT_HELP}).\n")
    chat_loop(_read_line_function(sys.stdin, write), _model_reply(model, tokenizer, generate_kwargs), write,
              system=args.system)
    return 0


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number >= 0:
        return number
    raise argparse.ArgumentTypeError("must be a number >= 0")


def add_chat_command(subparsers):
    p = subparsers.add_parser(
        "chat", help="chat with a model in the terminal, replies streamed as they are generated",
        description="An interactive chat: each line you type is a user message; the whole conversation "
                    "is rendered with the tokenizer's chat template and the reply is printed token by "
                    f"token. {CHAT_HELP}. Lines can also be piped in. Decoding is greedy unless "
                    "--do-sample is given.",
    )
    p.add_argument("--model", "-m", default=None,
                   help="a chat (instruct) model: Hub id, local folder, or .gguf file (with --url: a model id "
                        "of the server, default its first)")
    p.add_argument("--url", default=None,
                   help="talk to a running `leanformers serve` (or any OpenAI-compatible server) at this URL, "
                        "e.g. http://127.0.0.1:8000, instead of loading a model here")
    p.add_argument("--api-key", default=None, help="with --url: the server's API key")
    p.add_argument("--gguf-file", default=None, metavar="NAME",
                   help="load model and tokenizer from this GGUF file inside the --model folder or Hub repo")
    p.add_argument("--system", default=None, help="a system message that starts the conversation")
    p.add_argument("--max-new-tokens", type=_positive_int, default=256, help="longest reply, in tokens (default 256)")
    p.add_argument("--do-sample", action="store_true", help="sample the replies instead of greedy decoding")
    p.add_argument("--temperature", type=_non_negative_float, default=None,
                   help="with --do-sample: the sampling temperature")
    p.add_argument("--top-p", type=_non_negative_float, default=None,
                   help="with --do-sample: nucleus sampling's probability mass")
    p.add_argument("--device", "-d", default=None, help="cpu, cuda, cuda:0, 0, -1 ... (default: CUDA if available)")
    p.add_argument("--dtype", default=None,
                   help="float32 (fp32), bfloat16 (bf16), float16 (fp16) or auto (default: the checkpoint's own)")
    p.add_argument("--quantization", "-q", default=None, choices=["int8", "int4", "gguf"],
                   help="weight-only quantized CPU inference: int8 / int4 (any checkpoint), or gguf (keep a "
                        ".gguf file's own quantization); default: float weights")
    p.set_defaults(handler=_chat)


def _chat_remote(args) -> int:
    """``leanformers chat --url``: the same conversation, each reply streamed from the server."""
    from .serving.client import ChatClient, ServerError

    if args.gguf_file is not None or args.device is not None or args.dtype is not None:
        raise CommandError("--gguf-file, --device and --dtype choose how a model loads here; with --url the "
                           "server has loaded it already.")
    client = ChatClient(args.url, api_key=args.api_key)
    try:
        model = args.model or client.first_model()
    except ServerError as e:
        raise CommandError(str(e)) from None
    settings = {"max_tokens": args.max_new_tokens, "temperature": 0}
    if args.do_sample:
        settings.pop("temperature")
        settings.update({k: v for k, v in (("temperature", args.temperature), ("top_p", args.top_p))
                         if v is not None})

    def reply(messages, emit):
        try:
            for piece in client.stream_chat(model, messages, **settings):
                emit(piece)
        except ServerError as e:
            raise RuntimeError(str(e)) from None

    def write(text: str):
        sys.stdout.write(text)
        sys.stdout.flush()

    if sys.stdin.isatty():
        write(f"Chatting with {model} at {args.url} ({CHAT_HELP}).\n")
    chat_loop(_read_line_function(sys.stdin, write), reply, write, system=args.system)
    return 0


# ---- serve -------------------------------------------------------------------------------------
def _serve(args) -> int:
    try:
        from .serving.app import serve
    except ImportError as e:
        raise CommandError(f"`leanformers serve` needs its web stack ({e.name} is missing): "
                           f"pip install 'leanformers[serve]'.") from None
    if args.host not in ("127.0.0.1", "localhost", "::1") and args.api_key is None:
        print(f"leanformers serve: warning: listening on {args.host} without --api-key: anyone who can reach "
              f"this address can use (and load) models.", file=sys.stderr)
    serve(list(args.model), host=args.host, port=args.port, max_batch=args.max_batch, max_queue=args.max_queue,
          max_models=args.max_models, api_key=args.api_key, device=_parse_device(args.device), dtype=args.dtype,
          max_body=args.max_body, log_level=args.log_level)
    return 0


def add_serve_command(subparsers):
    p = subparsers.add_parser(
        "serve", help="serve models over HTTP: OpenAI API, Hugging Face Inference API, a chat page",
        description="An HTTP server: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models "
                    "(OpenAI's API), /models/{model} and /models/{model}/pipeline/{task} (the Hugging Face "
                    "Inference API), /health, and a chat page at /. Concurrent generation requests share one "
                    "continuously batched decoding loop. Models named in requests are loaded on first use.",
    )
    p.add_argument("--model", "-m", action="append", default=[], metavar="M",
                   help="a model to load at start (Hub id, folder or .gguf file); repeatable")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-batch", type=_positive_int, default=8,
                   help="most sequences decoded together per model (default 8)")
    p.add_argument("--max-queue", type=_positive_int, default=64,
                   help="most requests waiting to start; more get 429 (default 64)")
    p.add_argument("--max-models", type=_positive_int, default=4,
                   help="most models kept loaded; the least recently used makes room (default 4)")
    p.add_argument("--max-body", type=_positive_int, default=1_000_000,
                   help="largest request body in bytes; larger gets 413 (default 1000000)")
    p.add_argument("--api-key", default=None,
                   help="require 'Authorization: Bearer KEY' on every API request (401 otherwise)")
    p.add_argument("--device", "-d", default=None, help="cpu, cuda, cuda:0, 0, -1 ... (default: CUDA if available)")
    p.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: the checkpoint's own)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(handler=_serve)


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
COMMANDS = [add_run_command, add_chat_command, add_serve_command, add_env_command]


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
    args, extras = parser.parse_known_args(argv)
    if extras:
        # argparse fills a `nargs="*"` positional only before the first option, so the texts of
        # `run TASK --model M "text"` come back as extras: they belong to the texts, in order
        if getattr(args, "texts", None) is None or any(e.startswith("-") and e != "-" for e in extras):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.texts = list(args.texts) + extras
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
