"""A small client for `leanformers chat --url`: the standard library only (no web stack needed)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

__all__ = ["ChatClient", "ServerError"]


class ServerError(Exception):
    """The server could not be reached, or answered with an error (the message says which)."""


class ChatClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 600):
        self.url = url.rstrip("/")
        if self.url.endswith("/v1"):
            self.url = self.url[:-3]
        self.api_key, self.timeout = api_key, timeout

    def _open(self, method: str, path: str, body: dict | None = None):
        headers = {"Content-Type": "application/json"}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = e.reason
            raise ServerError(f"{self.url} answered {e.code}: {message}") from None
        except urllib.error.URLError as e:
            raise ServerError(f"cannot reach {self.url} ({e.reason}); is `leanformers serve` running there?") from None

    def first_model(self) -> str:
        with self._open("GET", "/v1/models") as r:
            models = json.loads(r.read()).get("data") or []
        if not models:
            raise ServerError(f"{self.url} has no model loaded: name one with --model.")
        return models[0]["id"]

    def stream_chat(self, model: str, messages: list[dict], **settings):
        """The reply's text, piece by piece as the server streams it. Closing the generator (or
        Ctrl-C) closes the connection, and the server stops generating."""
        body = {"model": model, "messages": messages, "stream": True, **settings}
        with self._open("POST", "/v1/chat/completions", body) as r:
            for raw in r:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    raise ServerError(chunk["error"].get("message", str(chunk["error"])))
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
