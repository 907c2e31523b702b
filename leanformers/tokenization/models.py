"""Models: turn one pre-tokenized word into tokens (WordPiece, BPE, Unigram, WordLevel).

`tokenize(word)` returns three tuples — ids, token strings, (start, end) character spans inside
the word — and is memoized per word (a bounded dict: real text repeats its words, and the cache
turns the model step into one dict lookup for them).
"""

from __future__ import annotations

import math

from .schema import field, registry

__all__ = ["Model", "WordPiece", "BPE", "Unigram", "WordLevel", "model_from_dict"]

_CACHE_LIMIT = 100_000
_CACHE_WORD_LIMIT = 256


class Model:
    type_name = ""

    def __init__(self):
        self._cache = {}

    def tokenize(self, word: str):
        """(ids, tokens, spans) for one word, memoized."""
        hit = self._cache.get(word)
        if hit is None:
            hit = self._tokenize(word)
            if len(word) > _CACHE_WORD_LIMIT:  # long words rarely repeat; keep memory bounded
                return hit
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[word] = hit
        return hit

    def _tokenize(self, word: str):
        raise NotImplementedError

    # vocabulary -------------------------------------------------------------------------------
    def token_to_id(self, token: str):
        return self.vocab.get(token)

    def id_to_token(self, id: int):
        return self._vocab_r.get(id)

    def get_vocab(self) -> dict:
        return dict(self.vocab)

    def get_vocab_size(self) -> int:
        return len(self.vocab)

    def _set_vocab(self, vocab: dict, component: str):
        if not isinstance(vocab, dict):
            raise ValueError(f"{component}: field 'vocab' must be an object mapping tokens to ids")
        # (map / zip keep these passes over a 30k-150k vocabulary in C: they are most of a load)
        if not {int}.issuperset(map(type, vocab.values())) or (vocab and min(vocab.values()) < 0):
            for tok, i in vocab.items():
                if type(i) is not int or i < 0:
                    raise ValueError(f"{component}: vocab entry {tok!r} has id {i!r}; ids must be non-negative integers")
        self.vocab = vocab
        self._vocab_r = dict(zip(vocab.values(), vocab))

    def _ordered_vocab(self) -> dict:
        # The reference writes the vocabulary sorted by id.
        return dict(sorted(self.vocab.items(), key=lambda kv: kv[1]))

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.get_vocab_size()})"


class WordPiece(Model):
    """Greedy longest-match-first subwords; a word with any unmatched part becomes `unk_token`."""

    type_name = "WordPiece"

    def __init__(self, vocab=None, unk_token="[UNK]", max_input_chars_per_word=100, continuing_subword_prefix="##"):
        super().__init__()
        self._set_vocab(dict(vocab or {}), "WordPiece")
        self.unk_token = unk_token
        self.continuing_subword_prefix = continuing_subword_prefix
        self.max_input_chars_per_word = max_input_chars_per_word
        self._max_key = max(map(len, self.vocab), default=0)

    @classmethod
    def read_file(cls, vocab_path: str) -> dict:
        """vocab.txt (one token a line) -> {token: line number}."""
        with open(vocab_path, encoding="utf-8") as f:
            return {line.rstrip("\n"): i for i, line in enumerate(f)}

    @classmethod
    def from_file(cls, vocab_path: str, **kwargs):
        return cls(cls.read_file(vocab_path), **kwargs)

    def _unk(self, n):
        unk_id = self.vocab.get(self.unk_token)
        if unk_id is None:
            raise ValueError(f"WordPiece: the unk_token {self.unk_token!r} is not in the vocabulary")
        return ((unk_id,), (self.unk_token,), ((0, n),))

    def _tokenize(self, word):
        n = len(word)
        if n > self.max_input_chars_per_word:
            return self._unk(n)
        vocab = self.vocab
        prefix = self.continuing_subword_prefix
        max_key = self._max_key
        ids, toks, spans = [], [], []
        start = 0
        while start < n:
            end = min(n, start + max_key)
            while end > start:
                sub = word[start:end] if start == 0 else prefix + word[start:end]
                i = vocab.get(sub)
                if i is not None:
                    ids.append(i)
                    toks.append(sub)
                    spans.append((start, end))
                    break
                end -= 1
            if end == start:
                return self._unk(n)
            start = end
        return tuple(ids), tuple(toks), tuple(spans)

    def to_dict(self):
        return {"type": self.type_name, "unk_token": self.unk_token,
                "continuing_subword_prefix": self.continuing_subword_prefix,
                "max_input_chars_per_word": self.max_input_chars_per_word, "vocab": self._ordered_vocab()}

    @classmethod
    def from_dict(cls, d):
        n = "WordPiece model"
        return cls(field(d, "vocab", n, dict), field(d, "unk_token", n, str, "[UNK]"),
                   field(d, "max_input_chars_per_word", n, int, 100), field(d, "continuing_subword_prefix", n, str, "##"))


class BPE(Model):
    """Byte-pair encoding: start from characters (or bytes via `byte_fallback`), then apply the
    lowest-ranked merge among adjacent pairs, leftmost first, until none applies."""

    type_name = "BPE"

    def __init__(self, vocab=None, merges=None, cache_capacity=None, dropout=None, unk_token=None,
                 continuing_subword_prefix=None, end_of_word_suffix=None, fuse_unk=False, byte_fallback=False,
                 ignore_merges=False):
        super().__init__()
        self._set_vocab(dict(vocab or {}), "BPE")
        self.merges = merges if isinstance(merges, list) else list(merges or [])
        if dropout is not None and not (0.0 <= dropout <= 1.0):
            raise ValueError(f"BPE: field 'dropout' must be between 0 and 1, got {dropout!r}")
        self.dropout = dropout  # read and written back; inference never drops merges
        self.unk_token = unk_token
        self.continuing_subword_prefix = continuing_subword_prefix
        self.end_of_word_suffix = end_of_word_suffix
        self.fuse_unk = bool(fuse_unk)
        self.byte_fallback = bool(byte_fallback)
        self.ignore_merges = bool(ignore_merges)
        # Built on first use: loading stays cheap, and a file is often loaded without encoding
        # (a missing merge token is reported then).
        self._merge_map = None

    @classmethod
    def read_file(cls, vocab_path: str, merges_path: str):
        """vocab.json + merges.txt -> (vocab, merges)."""
        import json

        with open(vocab_path, encoding="utf-8") as f:
            vocab = json.load(f)
        merges = []
        with open(merges_path, encoding="utf-8") as f:
            for k, line in enumerate(f):
                line = line.rstrip("\n")
                if not line or (k == 0 and line.startswith("#version")):
                    continue
                parts = line.split(" ")
                if len(parts) != 2:
                    raise ValueError(f"{merges_path}:{k + 1}: a merge line must hold two tokens, got {line!r}")
                merges.append((parts[0], parts[1]))
        return vocab, merges

    @classmethod
    def from_file(cls, vocab_path: str, merges_path: str, **kwargs):
        vocab, merges = cls.read_file(vocab_path, merges_path)
        return cls(vocab, merges, **kwargs)

    def _build_merges(self) -> dict:
        """{(id_a, id_b): (rank, id_merged)}; a later duplicate of a pair wins, as in the reference."""
        vocab = self.vocab
        cut = len(self.continuing_subword_prefix or "")
        try:
            # one C-speed pass; the slow pass below only runs to name a bad merge
            return {(vocab[a], vocab[b]): (rank, vocab[a + b[cut:]]) for rank, (a, b) in enumerate(self.merges)}
        except (KeyError, ValueError, TypeError):
            pass
        for rank, pair in enumerate(self.merges):
            if len(pair) != 2:
                raise ValueError(f"BPE model: merge #{rank} must be a pair of tokens, got {pair!r}")
            a, b = pair
            for tok in (a, b, a + b[cut:]):
                if tok not in vocab:
                    raise ValueError(f"BPE model: merge #{rank} ({a!r}, {b!r}) uses {tok!r}, which is not in the vocabulary")
        raise ValueError("BPE model: malformed merges")

    def _unk_id(self):
        i = self.vocab.get(self.unk_token)
        if i is None:
            raise ValueError(f"BPE: the unk_token {self.unk_token!r} is not in the vocabulary")
        return i

    def _tokenize(self, word):
        vocab = self.vocab
        if self.ignore_merges:
            i = vocab.get(word)
            if i is not None:
                return (i,), (word,), ((0, len(word)),)
        prefix, suffix = self.continuing_subword_prefix, self.end_of_word_suffix
        ids = None if prefix or suffix else list(map(vocab.get, word))
        if ids is not None and None not in ids:  # every character is a token (byte-level BPE)
            spans = list(zip(range(len(word)), range(1, len(word) + 1)))
        else:
            ids, spans = self._symbols(word)
        merges = self._merge_map
        if merges is None:
            merges = self._merge_map = self._build_merges()
        if len(ids) <= _SCAN_LIMIT:
            _merge_scan(ids, spans, merges)
        else:
            ids, spans = _merge_heap(ids, spans, merges)
        return tuple(ids), tuple(map(self._vocab_r.__getitem__, ids)), tuple(spans)

    def _symbols(self, word):
        """The word's starting symbols: (ids, spans) of its characters (with the continuing-subword
        prefix and end-of-word suffix), bytes (`byte_fallback`) or unk runs for unknown ones."""
        vocab = self.vocab
        prefix, suffix = self.continuing_subword_prefix, self.end_of_word_suffix
        ids, spans = [], []
        unk = None  # pending unknown run: [id, start, end]
        last = len(word) - 1
        for pos, c in enumerate(word):
            s = c
            if prefix and pos > 0:
                s = prefix + s
            if suffix and pos == last:
                s = s + suffix
            i = vocab.get(s)
            if i is not None:
                if unk is not None:
                    ids.append(unk[0])
                    spans.append((unk[1], unk[2]))
                    unk = None
                ids.append(i)
                spans.append((pos, pos + 1))
                continue
            if self.byte_fallback:
                byte_ids = [vocab.get(f"<0x{b:02X}>") for b in s.encode("utf-8", "surrogatepass")]
                if None not in byte_ids:
                    # (a pending unknown run stays pending, as in the reference)
                    ids.extend(byte_ids)
                    spans.extend([(pos, pos + 1)] * len(byte_ids))
                    continue
            if self.unk_token is not None:
                if unk is not None and self.fuse_unk:
                    unk[2] = pos + 1
                else:
                    if unk is not None:
                        ids.append(unk[0])
                        spans.append((unk[1], unk[2]))
                    unk = [self._unk_id(), pos, pos + 1]
        if unk is not None:
            ids.append(unk[0])
            spans.append((unk[1], unk[2]))
        return ids, spans

    def to_dict(self):
        return {
            "type": self.type_name, "dropout": self.dropout, "unk_token": self.unk_token,
            "continuing_subword_prefix": self.continuing_subword_prefix, "end_of_word_suffix": self.end_of_word_suffix,
            "fuse_unk": self.fuse_unk, "byte_fallback": self.byte_fallback, "ignore_merges": self.ignore_merges,
            "vocab": self._ordered_vocab(), "merges": [[a, b] for a, b in self.merges],
        }

    @classmethod
    def from_dict(cls, d):
        n = "BPE model"
        raw = field(d, "merges", n, list, [])
        if raw and isinstance(raw[0], str):  # "a b" form (older files)
            merges = [m.split(" ", 1) for m in raw] if all(type(m) is str for m in raw) else None
        else:  # [a, b] form
            merges = raw
        if merges is None or not all(type(m) is list and len(m) == 2 for m in merges):
            for k, m in enumerate(raw):
                if not ((type(m) is str and len(m.split(" ", 1)) == 2)
                        or (type(m) is list and len(m) == 2 and all(type(x) is str for x in m))):
                    raise ValueError(f"{n}: merge #{k} must be \"a b\" or [\"a\", \"b\"], got {m!r:.60}")
            raise ValueError(f"{n}: merges mix the \"a b\" and [\"a\", \"b\"] forms")
        dropout = field(d, "dropout", n, float, None)
        return cls(
            field(d, "vocab", n, dict), merges, dropout=dropout, unk_token=field(d, "unk_token", n, str, None),
            continuing_subword_prefix=field(d, "continuing_subword_prefix", n, str, None),
            end_of_word_suffix=field(d, "end_of_word_suffix", n, str, None),
            fuse_unk=field(d, "fuse_unk", n, bool, False), byte_fallback=field(d, "byte_fallback", n, bool, False),
            ignore_merges=field(d, "ignore_merges", n, bool, False),
        )


# Up to this many symbols a word is merged by rescanning its pairs after each merge (quadratic, but
# the least overhead per merge); longer words go through the priority queue. Measured on GPT-2's
# merges and English words: the scan is faster up to ~12 symbols (1.3 vs 4.6 us at 2), the queue
# beyond (17 vs 21 us at 16, 57 vs 135 us at 48).
_SCAN_LIMIT = 12


def _merge_scan(ids: list, spans: list, merges: dict) -> None:
    """Merge in place: the lowest-ranked pair, leftmost first, until none applies."""
    while len(ids) > 1:
        best = None
        best_i = -1
        for k in range(len(ids) - 1):
            m = merges.get((ids[k], ids[k + 1]))
            if m is not None and (best is None or m[0] < best[0]):
                best = m
                best_i = k
        if best is None:
            return
        ids[best_i:best_i + 2] = [best[1]]
        spans[best_i:best_i + 2] = [(spans[best_i][0], spans[best_i + 1][1])]


def _merge_heap(ids: list, spans: list, merges: dict):
    """The reference's merge loop, near-linear on long words: a heap of candidate merges, lowest
    rank first and then leftmost, over a doubly linked list of symbols. A popped candidate is stale
    when its left symbol was absorbed, is now last, or its pair changed. (The reference detects a
    changed pair by the merged id; symbols only grow, so a changed pair never merges into the same
    token, and comparing the rank, which names one merge, is the same test.)
    Candidates are single ints, rank << 32 | position, which the heap compares fastest."""
    import heapq

    n = len(ids)
    ids = list(ids)
    ends = [e for _, e in spans]
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    alive = [True] * n
    get = merges.get
    heap = []
    for k, m in enumerate(map(get, zip(ids, ids[1:]))):
        if m is not None:
            heap.append(m[0] << 32 | k)
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    mask = (1 << 32) - 1
    while heap:
        top = pop(heap)
        pos = top & mask
        if not alive[pos]:
            continue
        right = nxt[pos]
        if right >= n:
            continue
        m = get((ids[pos], ids[right]))
        if m is None or m[0] != top >> 32:
            continue
        new_id = ids[pos] = m[1]
        ends[pos] = ends[right]
        alive[right] = False
        after = nxt[pos] = nxt[right]
        before = prv[pos]
        if before >= 0:
            m = get((ids[before], new_id))
            if m is not None:
                push(heap, m[0] << 32 | before)
        if after < n:
            prv[after] = pos
            m = get((new_id, ids[after]))
            if m is not None:
                push(heap, m[0] << 32 | pos)
    keep = [k for k in range(n) if alive[k]]
    return [ids[k] for k in keep], [(spans[k][0], ends[k]) for k in keep]


class Unigram(Model):
    """SentencePiece unigram: the segmentation with the best total log-probability (Viterbi).
    Characters no piece covers become unk (score: lowest piece score - 10), and runs of them fuse."""

    type_name = "Unigram"

    def __init__(self, vocab=None, unk_id=None, byte_fallback=False):
        super().__init__()
        vocab = [(str(p), float(s)) for p, s in (vocab or [])]
        self.pieces = vocab
        self.vocab = {}
        for i, (p, _) in enumerate(vocab):
            self.vocab.setdefault(p, i)
        self._vocab_r = {i: p for i, (p, _) in enumerate(vocab)}
        self._scores = {p: (self.vocab[p], s) for p, s in vocab if self.vocab[p] is not None}
        if unk_id is not None and not (0 <= unk_id < len(vocab)):
            raise ValueError(f"Unigram model: unk_id {unk_id} is outside the vocabulary (size {len(vocab)})")
        self.unk_id = unk_id
        self.byte_fallback = bool(byte_fallback)
        self._min_score = min((s for _, s in vocab), default=0.0)
        self._prefixes = None  # every prefix of every piece, built on first use

    def get_vocab_size(self):
        return len(self.pieces)

    def get_vocab(self):
        return {p: i for i, (p, _) in enumerate(self.pieces)}

    def _build_prefixes(self):
        pre = set()
        for p in self._scores:
            for k in range(1, len(p) + 1):
                pre.add(p[:k])
        self._prefixes = pre
        self._max_len = max((len(p) for p in self._scores), default=0)

    def _encode(self, text):
        if self._prefixes is None:
            self._build_prefixes()
        n = len(text)
        scores = self._scores
        prefixes = self._prefixes
        unk_score = self._min_score - 10.0
        best = [0.0] * (n + 1)
        start_at = [-1] * (n + 1)
        best_id = [0] * (n + 1)
        for i in range(n):
            base = best[i]
            single = False
            for k in range(i + 1, min(n, i + self._max_len) + 1):
                sub = text[i:k]
                if sub not in prefixes:
                    break
                hit = scores.get(sub)
                if hit is not None:
                    cand = hit[1] + base
                    if start_at[k] == -1 or cand > best[k]:
                        best[k], start_at[k], best_id[k] = cand, i, hit[0]
                    if k == i + 1:
                        single = True
            if not single:
                if self.unk_id is None:
                    raise ValueError("Unigram: found a character no piece covers, and the model has no unk_id")
                cand = unk_score + base
                if start_at[i + 1] == -1 or cand > best[i + 1]:
                    best[i + 1], start_at[i + 1], best_id[i + 1] = cand, i, self.unk_id
        out = []
        end = n
        fused_end = None
        while end > 0:
            s = start_at[end]
            if self.unk_id is not None and best_id[end] == self.unk_id:
                if fused_end is None:
                    fused_end = end
            else:
                if fused_end is not None:
                    out.append((end, fused_end))
                    fused_end = None
                out.append((s, end))
            end = s
        if fused_end is not None:
            out.append((0, fused_end))
        out.reverse()
        return out

    def _tokenize(self, word):
        ids, toks, spans = [], [], []
        vocab = self.vocab
        for s, e in self._encode(word):
            piece = word[s:e]
            i = vocab.get(piece)
            if i is None:
                if self.byte_fallback:
                    byte_ids = [(vocab.get(f"<0x{b:02X}>"), f"<0x{b:02X}>") for b in piece.encode("utf-8", "surrogatepass")]
                    if all(b[0] is not None for b in byte_ids):
                        for bi, bt in byte_ids:
                            ids.append(bi)
                            toks.append(bt)
                            spans.append((s, e))
                        continue
                if self.unk_id is None:
                    raise ValueError("Unigram: found an unknown piece, and the model has no unk_id")
                i = self.unk_id
            ids.append(i)
            toks.append(piece)
            spans.append((s, e))
        return tuple(ids), tuple(toks), tuple(spans)

    def to_dict(self):
        return {"type": self.type_name, "unk_id": self.unk_id, "vocab": [[p, s] for p, s in self.pieces],
                "byte_fallback": self.byte_fallback}

    @classmethod
    def from_dict(cls, d):
        n = "Unigram model"
        vocab = field(d, "vocab", n, list)
        for k, entry in enumerate(vocab):
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                    and isinstance(entry[1], (int, float)) and not isinstance(entry[1], bool)):
                raise ValueError(f"{n}: vocab entry #{k} must be [piece, score], got {entry!r:.60}")
            if not math.isfinite(entry[1]):
                raise ValueError(f"{n}: vocab entry #{k} has a non-finite score {entry[1]!r}")
        return cls(vocab, field(d, "unk_id", n, int, None), field(d, "byte_fallback", n, bool, False))


class WordLevel(Model):
    """Whole words looked up in the vocabulary; anything else is `unk_token`."""

    type_name = "WordLevel"

    def __init__(self, vocab=None, unk_token=None):
        super().__init__()
        self._set_vocab(dict(vocab or {}), "WordLevel")
        self.unk_token = unk_token

    @classmethod
    def read_file(cls, vocab_path: str) -> dict:
        import json

        with open(vocab_path, encoding="utf-8") as f:
            return json.load(f)

    @classmethod
    def from_file(cls, vocab_path: str, unk_token=None):
        return cls(cls.read_file(vocab_path), unk_token)

    def _tokenize(self, word):
        i = self.vocab.get(word)
        if i is not None:
            return (i,), (word,), ((0, len(word)),)
        unk = self.vocab.get(self.unk_token) if self.unk_token is not None else None
        if unk is None:
            raise ValueError(f"WordLevel: {word!r} is not in the vocabulary and the unk_token {self.unk_token!r} is missing from it")
        return (unk,), (self.unk_token,), ((0, len(word)),)

    def to_dict(self):
        return {"type": self.type_name, "vocab": self._ordered_vocab(), "unk_token": self.unk_token}

    @classmethod
    def from_dict(cls, d):
        n = "WordLevel model"
        return cls(field(d, "vocab", n, dict), field(d, "unk_token", n, str, "<unk>"))


_TYPES = {c.type_name: c for c in (WordPiece, BPE, Unigram, WordLevel)}


def model_from_dict(d):
    if isinstance(d, dict) and "type" not in d:
        # Old files omit the model type: recognise it by its fields, as the reference does.
        if "merges" in d:
            d = {**d, "type": "BPE"}
        elif "continuing_subword_prefix" in d or "max_input_chars_per_word" in d:
            d = {**d, "type": "WordPiece"}
        elif isinstance(d.get("vocab"), list):
            d = {**d, "type": "Unigram"}
        elif "vocab" in d:
            d = {**d, "type": "WordLevel"}
    return registry(d, _TYPES, "model")
