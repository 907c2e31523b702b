"""``leanformers serve``: an OpenAI- and Inference-API-compatible HTTP server.

- ``engine.py``: continuous batching on the generation step API (one worker thread owns the models);
- ``models.py``: which models are loaded (ids, first-use loading, an LRU bound);
- ``app.py``: the ASGI app (starlette + sse-starlette; pydantic validates the bodies);
- ``static/chat.html``: the chat page served at ``/``.

The web stack is the optional extra ``leanformers[serve]``; nothing here is imported by
``import leanformers``.
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def create_app(*args, **kwargs):
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)


def serve(*args, **kwargs):
    from .app import serve as _serve

    return _serve(*args, **kwargs)
