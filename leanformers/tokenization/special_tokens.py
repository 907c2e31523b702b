"""Named special tokens (bos/eos/unk/sep/pad/cls/mask + model-specific ones), extra special tokens,
and adding tokens to the engine — the reference's special-token bookkeeping, as a mixin."""

from __future__ import annotations

SPECIAL_TOKENS_ATTRIBUTES = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]


def _strip_id_suffix(name: str) -> str:
    if name.endswith("_ids"):
        return name[:-4]
    if name.endswith("_id"):
        return name[:-3]
    return name


def _is_token(value) -> bool:
    return isinstance(value, str) or hasattr(value, "content")


class SpecialTokensMixin:
    """`tok.pad_token`, `tok.pad_token_id = 0`, `tok.all_special_ids`, `add_special_tokens({...})`, ..."""

    SPECIAL_TOKENS_ATTRIBUTES = SPECIAL_TOKENS_ATTRIBUTES

    def _init_special_tokens(self, kwargs: dict):
        self._special_tokens_map = dict.fromkeys(SPECIAL_TOKENS_ATTRIBUTES)
        self._extra_special_tokens = []
        self._pad_token_type_id = 0
        model_specific = dict(kwargs.pop("model_specific_special_tokens", None) or {})
        for key in list(kwargs):
            value = kwargs[key]
            if key in SPECIAL_TOKENS_ATTRIBUTES:
                kwargs.pop(key)
                if value is None:
                    continue
                if not _is_token(value):
                    raise TypeError(f"Special token {key} has to be a str or an AddedToken, got {value!r}")
                self._special_tokens_map[key] = value
            elif key == "extra_special_tokens":
                kwargs.pop(key)
                if isinstance(value, dict):
                    model_specific.update(value)
                elif isinstance(value, (list, tuple)):
                    self._extra_special_tokens = list(value)
                elif value is not None:
                    raise TypeError("extra_special_tokens must be a list of tokens or a dict of named tokens")
            elif key.endswith("_token") and _is_token(value):
                model_specific[key] = kwargs.pop(key)  # e.g. image_token
        for key, value in model_specific.items():
            if not _is_token(value):
                raise TypeError(f"Special token {key} has to be a str or an AddedToken, got {value!r}")
            if key not in self.SPECIAL_TOKENS_ATTRIBUTES:
                self.SPECIAL_TOKENS_ATTRIBUTES = self.SPECIAL_TOKENS_ATTRIBUTES + [key]
            self._special_tokens_map[key] = value

    # Named tokens are read and written through these two hooks so that `tok.pad_token = "<pad>"` and
    # `tok.pad_token_id = 0` work for every name, including model-specific ones like `image_token`.
    def __getattr__(self, key):
        if key.startswith("__") or key in ("_special_tokens_map", "_extra_special_tokens", "_tokenizer"):
            raise AttributeError(key)
        base = _strip_id_suffix(key)
        special = self.__dict__.get("_special_tokens_map")
        if special is not None and base in self.SPECIAL_TOKENS_ATTRIBUTES:
            value = special.get(base)
            if value is None:
                return None
            return self.convert_tokens_to_ids(str(value)) if key != base else str(value)
        if base == "extra_special_tokens" or base == "additional_special_tokens":
            tokens = [str(t) for t in self.__dict__.get("_extra_special_tokens", [])]
            return self.convert_tokens_to_ids(tokens) if key != base else tokens
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    def __setattr__(self, key, value):
        base = _strip_id_suffix(key)
        if "_special_tokens_map" in self.__dict__ and base in self.SPECIAL_TOKENS_ATTRIBUTES:
            if key != base and value is not None:
                value = self.convert_ids_to_tokens(value)
            if value is not None and not _is_token(value):
                raise ValueError(f"Cannot set {key} to {value!r}: it must be a token string (or an id for {base}_id)")
            self._special_tokens_map[base] = value
            return
        if base in ("extra_special_tokens", "additional_special_tokens") and "_special_tokens_map" in self.__dict__:
            if key != base and value is not None:
                value = [self.convert_ids_to_tokens(v) for v in value]
            if value is not None and not isinstance(value, (list, tuple)):
                raise ValueError(f"{base} must be a list of tokens, got {value!r}")
            self.__dict__["_extra_special_tokens"] = list(value or [])
            return
        object.__setattr__(self, key, value)

    @property
    def pad_token_type_id(self) -> int:
        return self._pad_token_type_id

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """Named special tokens as strings (extra special tokens are in `extra_special_tokens`)."""
        return {name: str(v) for name in self.SPECIAL_TOKENS_ATTRIBUTES
                if (v := self._special_tokens_map.get(name)) is not None}

    @property
    def all_special_tokens(self) -> list[str]:
        seen, out = set(), []
        for value in [self._special_tokens_map.get(n) for n in self.SPECIAL_TOKENS_ATTRIBUTES] + self._extra_special_tokens:
            if value is not None and str(value) not in seen:
                seen.add(str(value))
                out.append(str(value))
        return out

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    # ---- adding tokens -------------------------------------------------------------------------
    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """Add tokens to the vocabulary (if new); returns how many ids were added."""
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        converted = []
        for token in new_tokens:
            if isinstance(token, str):
                converted.append(token)
            elif hasattr(token, "content"):
                converted.append(self._added_token(token))
            else:
                raise TypeError(f"add_tokens expects str or AddedToken values, got {token!r}")
        self._engine_changed()
        if special_tokens:
            return self._tokenizer.add_special_tokens(converted)
        return self._tokenizer.add_tokens(converted)

    def add_special_tokens(self, special_tokens_dict: dict, replace_extra_special_tokens: bool = True) -> int:
        """Set named special tokens (and extra ones), adding them to the vocabulary when new."""
        if not special_tokens_dict:
            return 0
        special_tokens_dict = dict(special_tokens_dict)
        if "additional_special_tokens" in special_tokens_dict and not special_tokens_dict.get("extra_special_tokens"):
            special_tokens_dict["extra_special_tokens"] = special_tokens_dict.pop("additional_special_tokens")
        allowed = set(self.SPECIAL_TOKENS_ATTRIBUTES) | {"extra_special_tokens"}
        to_add = []
        for key, value in special_tokens_dict.items():
            if key not in allowed:
                raise ValueError(f"Key {key} is not a valid special token. Valid keys are: {sorted(allowed)}")
            if key == "extra_special_tokens":
                if not isinstance(value, (list, tuple)) or not all(_is_token(t) for t in value):
                    raise ValueError(f"Tokens {value} for key {key} should all be str or AddedToken instances")
                existing = self.extra_special_tokens
                new = [self._added_token(t, normalized=False, special=True) if isinstance(t, str) else t
                       for t in value if replace_extra_special_tokens or str(t) not in existing]
                if replace_extra_special_tokens and new:
                    self._extra_special_tokens = list(new)
                else:
                    self._extra_special_tokens.extend(new)
                to_add.extend(new)
            else:
                if not _is_token(value):
                    raise ValueError(f"Token {value} for key {key} should be a str or an AddedToken instance")
                if isinstance(value, str):
                    value = self._added_token(value, normalized=False, special=True)
                setattr(self, key, value)
                to_add.append(value)
        return self.add_tokens(to_add, special_tokens=True)

    def _register_special_tokens_in_backend(self):
        """Make sure every special token is an added token of the engine (never split, skippable)."""
        known = set(self.added_tokens_encoder)
        to_add = []
        values = [v for v in self._special_tokens_map.values() if v is not None] + list(self._extra_special_tokens)
        for value in values:
            if str(value) in known:
                continue
            known.add(str(value))
            if isinstance(value, str):
                value = self._added_token(value, special=True)
            elif not value.special:
                value = self._added_token(value.content, single_word=value.single_word, lstrip=value.lstrip,
                                          rstrip=value.rstrip, normalized=value.normalized, special=True)
            to_add.append(value)
        if to_add:
            self.add_tokens(to_add)

    # ---- bos / eos added by the post-processor ------------------------------------------------
    @property
    def add_bos_token(self) -> bool:
        return self.__dict__.get("_add_bos_token", False)

    @add_bos_token.setter
    def add_bos_token(self, value: bool):
        self.__dict__["_add_bos_token"] = bool(value)
        self.update_post_processor()

    @property
    def add_eos_token(self) -> bool:
        return self.__dict__.get("_add_eos_token", False)

    @add_eos_token.setter
    def add_eos_token(self, value: bool):
        self.__dict__["_add_eos_token"] = bool(value)
        self.update_post_processor()

    def update_post_processor(self):
        """Rebuild the post-processor as `[bos] $A [eos]` from add_bos_token / add_eos_token."""
        from .templates import bos_eos_template

        bos, eos = self.bos_token, self.eos_token
        add_bos = self.add_bos_token and bos is not None
        add_eos = self.add_eos_token and eos is not None
        self._set_post_processor_json(
            bos_eos_template(bos if add_bos else None, self.bos_token_id, eos if add_eos else None, self.eos_token_id)
        )
