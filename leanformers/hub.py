"""Name or path -> local files.

A checkpoint is found, in order, in:
1. a local folder (``name_or_path`` is a directory),
2. the standard Hugging Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``) in the ``models--org--name/{refs,snapshots}`` layout that
   huggingface_hub writes,
3. a download through huggingface_hub, unless offline (``HF_HUB_OFFLINE=1`` or
   ``local_files_only=True``), in which case no network call is made at all.

The cache is read with plain file operations: huggingface_hub is imported only to download. Before
the first download of a process, a TCP connection to the Hub's host (``HF_ENDPOINT``) is tried with
a 3 s limit; when the Hub cannot be reached, that is remembered for a minute, so a cached model's
missing optional files cost no further waits and an uncached one fails at once with one message.
"""

from __future__ import annotations

import os
import re
import time

__all__ = ["resolve_file", "split_gguf_path", "hf_cache_dir", "is_offline", "CheckpointNotFoundError"]

_COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")
_TRUE = {"1", "ON", "YES", "TRUE"}


class CheckpointNotFoundError(OSError):
    """A model, tokenizer or file could not be found locally, in the cache, or on the Hub."""


def hf_cache_dir(cache_dir: str | os.PathLike | None = None) -> str:
    """The hub cache folder, following huggingface_hub's environment variables."""
    if cache_dir is not None:
        return os.fspath(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "huggingface", "hub")


def is_offline(local_files_only: bool | None = None) -> bool:
    if local_files_only:
        return True
    return any(os.environ.get(v, "").upper() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _repo_folder(repo_id: str, cache_dir: str, repo_type: str = "model") -> str:
    return os.path.join(cache_dir, f"{repo_type}s--" + repo_id.replace("/", "--"))


def _cached_snapshot(repo_id: str, revision: str | None, cache_dir: str) -> str | None:
    """The snapshot folder of ``revision`` (a branch, tag or commit hash) in the cache, if any."""
    repo = _repo_folder(repo_id, cache_dir)
    if not os.path.isdir(repo):
        return None
    revision = revision or "main"
    commit = revision
    if not _COMMIT_HASH.match(revision):
        ref = os.path.join(repo, "refs", revision)
        if not os.path.isfile(ref):
            return None
        with open(ref, encoding="utf-8") as f:
            commit = f.read().strip()
    snapshot = os.path.join(repo, "snapshots", commit)
    return snapshot if os.path.isdir(snapshot) else None


def _looks_like_repo_id(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?", name)) and ".." not in name


def split_gguf_path(name_or_path, gguf_file: str | None = None) -> tuple:
    """``("dir/model.gguf", None)`` -> ``("dir", "model.gguf")``: a path to a GGUF file loads as its
    folder plus ``gguf_file``, the way ``from_pretrained(folder, gguf_file=name)`` takes it. Anything
    else comes back unchanged."""
    if gguf_file is not None or not isinstance(name_or_path, (str, os.PathLike)):
        return name_or_path, gguf_file
    name = os.fspath(name_or_path)
    if not name.lower().endswith(".gguf") or os.path.isdir(name):
        return name_or_path, gguf_file
    if not os.path.isfile(name):
        raise CheckpointNotFoundError(
            f"There is no GGUF file at {name!r}. Check the path, or pass the folder (or Hub id) that holds "
            f"it and the file name as gguf_file='name.gguf'."
        )
    return os.path.split(os.path.abspath(name))


def resolve_file(
    name_or_path: str | os.PathLike,
    filename: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool | None = None,
    token: str | bool | None = None,
    subfolder: str = "",
    required: bool = True,
    force_download: bool = False,
) -> str | None:
    """Local path of ``filename`` in the checkpoint ``name_or_path``.

    Returns ``None`` when the file does not exist and ``required`` is False; raises
    :class:`CheckpointNotFoundError` (an ``OSError``) saying where it looked otherwise.
    """
    name = os.fspath(name_or_path)
    relative = os.path.join(subfolder, filename) if subfolder else filename

    if os.path.isdir(name):
        path = os.path.join(name, relative)
        if os.path.isfile(path):
            return path
        if required:
            raise CheckpointNotFoundError(
                f"{name!r} is a folder but holds no {relative!r}. Check the path, or save the "
                f"model/tokenizer there with save_pretrained() first."
            )
        return None

    if os.path.isfile(name):
        raise CheckpointNotFoundError(
            f"{name!r} is a file, but a folder or a Hub model id was expected (the folder that holds "
            f"config.json). Pass the folder, not the file (a GGUF file loads as its folder plus "
            f"gguf_file='name.gguf')."
        )

    if not _looks_like_repo_id(name):
        if required:
            raise CheckpointNotFoundError(
                f"No folder {name!r} exists and it is not a valid Hub model id (like 'org/model'). "
                f"Check the path."
            )
        return None

    cache = hf_cache_dir(cache_dir)
    snapshot = _cached_snapshot(name, revision, cache)
    if not force_download and snapshot is not None:
        path = os.path.join(snapshot, relative)
        if os.path.isfile(path):
            return path
        # huggingface_hub records files known to be absent at a commit under .no_exist/
        commit = os.path.basename(snapshot)
        absent = os.path.join(_repo_folder(name, cache), ".no_exist", commit, relative)
        if os.path.exists(absent) and not required:
            return None

    if is_offline(local_files_only):
        if not required:
            return None
        raise CheckpointNotFoundError(
            f"Cannot find {relative!r} for {name!r}: there is no such local folder, the Hugging Face "
            f"cache at {cache} holds no snapshot of it{f' at revision {revision!r}' if revision else ''}, "
            f"and downloads are off (HF_HUB_OFFLINE=1 or local_files_only=True). Pass a local folder, "
            f"or download it once with network access (unset HF_HUB_OFFLINE)."
        )
    return _download(name, relative, revision=revision, cache_dir=cache, token=token, required=required,
                     force_download=force_download, cached=snapshot is not None)


# ---- the network: tried once, and not again for a while after it failed --------------------------
# Without these, a machine with no network waits on every optional file of a load in turn (a DNS or
# TCP timeout each), minutes in all, then reports a misleading "no such file".
_PROBE_TIMEOUT = 3.0  # seconds to reach the Hub's host before it counts as unreachable
_REMEMBER_FOR = 60.0  # seconds an outcome (reachable or not) is reused: covers one whole load
_reachability: dict[str, tuple[float, str | None]] = {}  # endpoint -> (until, None or why unreachable)

_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _probe(endpoint: str) -> str | None:
    """None when a TCP connection to the endpoint's host opens within ``_PROBE_TIMEOUT``, else why not.

    The connection is made in a thread because name resolution has no timeout of its own."""
    import socket
    import threading
    from urllib.parse import urlsplit

    url = urlsplit(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    outcome: list[str | None] = []

    def connect():
        try:
            socket.create_connection((host, port), timeout=_PROBE_TIMEOUT).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(f"{type(e).__name__}: {e}")

    thread = threading.Thread(target=connect, name="leanformers-hub-probe", daemon=True)
    thread.start()
    thread.join(_PROBE_TIMEOUT)
    return outcome[0] if outcome else f"no answer from {host}:{port} within {_PROBE_TIMEOUT:g} s"


def _why_unreachable(endpoint: str) -> str | None:
    """None if the Hub may be tried, else the remembered or freshly probed reason it cannot be."""
    now = time.monotonic()
    until, reason = _reachability.get(endpoint, (0.0, None))
    if now < until:
        return reason
    # behind a proxy the Hub's host is not reached directly: let the download itself tell
    reason = None if any(os.environ.get(v) for v in _PROXY_VARIABLES) else _probe(endpoint)
    _reachability[endpoint] = (now + _REMEMBER_FOR, reason)
    return reason


def _mark_unreachable(endpoint: str, error: BaseException):
    cause = error.__cause__ or error.__context__ or error
    _reachability[endpoint] = (time.monotonic() + _REMEMBER_FOR, f"{type(cause).__name__}: {cause}")


def _unreachable_error(repo_id, filename, cache_dir, endpoint, reason, cached) -> CheckpointNotFoundError:
    where = (f"the cache at {cache_dir} has its snapshot but not this file" if cached
             else f"the Hugging Face cache at {cache_dir} holds no copy of it")
    return CheckpointNotFoundError(
        f"Cannot load {filename!r} for {repo_id!r}: the Hugging Face Hub ({endpoint}) could not be reached "
        f"({reason}), it is not a local folder, and {where}. Check the network connection (or "
        f"HF_ENDPOINT), or pass a local folder. Set HF_HUB_OFFLINE=1 to skip the attempt to reach the "
        f"Hub: models in the cache then load without it."
    )


def _download(repo_id, filename, *, revision, cache_dir, token, required, force_download, cached):
    try:
        import huggingface_hub
        from huggingface_hub.utils import (
            EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError,
        )
    except ImportError as e:  # pragma: no cover - huggingface_hub is a runtime dependency
        raise CheckpointNotFoundError(f"{repo_id!r} is not cached and huggingface_hub is missing.") from e
    endpoint = huggingface_hub.constants.ENDPOINT
    reason = _why_unreachable(endpoint)
    if reason is None:
        try:
            return huggingface_hub.hf_hub_download(
                repo_id, filename, revision=revision, cache_dir=cache_dir, token=token,
                force_download=force_download,
            )
        # LocalEntryNotFoundError (the Hub could not be asked, and the cache has no copy) subclasses
        # EntryNotFoundError (the Hub said there is no such file): it must be caught first
        except LocalEntryNotFoundError as e:
            _mark_unreachable(endpoint, e)
            reason = _reachability[endpoint][1]
        except EntryNotFoundError:
            if not required:
                return None
            raise CheckpointNotFoundError(f"The Hub repo {repo_id!r} has no file {filename!r}.") from None
        except (RepositoryNotFoundError, RevisionNotFoundError) as e:
            raise CheckpointNotFoundError(
                f"{repo_id!r} is neither a local folder nor a model on the Hugging Face Hub "
                f"({type(e).__name__}). Check the name, the revision, or pass token= for a private repo."
            ) from None
        except Exception as e:  # other HTTP errors (401, 5xx), a proxy error, a full disk...
            if not required:
                return None
            raise CheckpointNotFoundError(
                f"Cannot find {filename!r} for {repo_id!r}: not a local folder, not in the cache at "
                f"{cache_dir}, and the download failed ({type(e).__name__}: {e})."
            ) from None
    # The Hub cannot be reached. An optional file of a cached model is simply absent; anything else
    # (a required file, or a repo the cache has never seen) cannot be loaded: one message says why.
    if cached and not required:
        return None
    raise _unreachable_error(repo_id, filename, cache_dir, endpoint, reason, cached)
