"""The byte-level BPE tokenizer of dgcode's repair model: trained here, run by llama.cpp.

Byte-level BPE as GPT-2 and Qwen2 do it: text is split into pre-tokens by the
Qwen2 pre-tokenizer, each pre-token's UTF-8 bytes are written with GPT-2's
byte-to-unicode characters, and merges are applied lowest rank first. The GGUF
stores it as tokenizer.ggml.model "gpt2", pre "qwen2", so llama.cpp runs the
same algorithm; `pretokenize` ports llama.cpp's hand-written Qwen2 splitter
(unicode.cpp, unicode_regex_split_custom_qwen2) character for character, since
Python's `re` has no \\p{L}.

Token ids: 0..255 the byte characters (bytes_to_unicode order), then one token
per merge in merge order, then the special tokens (SPECIALS) at the end.
"""

from __future__ import annotations

import heapq
import json
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from dgcode.engine.byte_vocab import byte_char_map

# Special tokens, in id order at the end of the vocabulary: end-of-text, pad, mask, the canvas
# markers and the edit operations. Their roles are fixed by dgcode/repair/canvas.py; the names are
# what the GGUF stores.
from dgcode.repair.canvas import SPECIALS

# llama.cpp's \s set (unicode-data.cpp, unicode_set_whitespace)
_WHITESPACE = frozenset(map(chr, (
    0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
    0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)))


BYTE_CHARS = byte_char_map()                        # byte -> char (GPT-2's byte-level map)
CHAR_BYTES = {c: b for b, c in BYTE_CHARS.items()}  # char -> byte
BYTE_ORDER = list(BYTE_CHARS.values())              # token ids 0..255 (dict order = GPT-2's order)


@lru_cache(maxsize=65536)
def _flags(ch: str) -> tuple[bool, bool, bool]:
    """(letter, number, whitespace) as llama.cpp's codepoint flags say."""
    cat = unicodedata.category(ch)
    return cat[0] == "L", cat[0] == "N", ch in _WHITESPACE


def pretokenize(text: str) -> list[str]:
    """Split text into pre-tokens exactly as llama.cpp's Qwen2 pre-tokenizer does.

    Regex: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}
           | ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+
    """
    n = len(text)
    out: list[str] = []
    none = (False, False, False)

    def flags(i: int) -> tuple[bool, bool, bool]:
        return _flags(text[i]) if 0 <= i < n else none

    pos = 0
    while pos < n:
        ch = text[pos]
        letter, number, space = _flags(ch)
        start = pos
        # (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if ch == "'" and pos + 1 < n:
            nxt = text[pos + 1].lower()
            if nxt in ("s", "t", "m", "d"):
                out.append(text[pos:pos + 2])
                pos += 2
                continue
            if pos + 2 < n and (nxt + text[pos + 2].lower()) in ("re", "ve", "ll"):
                out.append(text[pos:pos + 3])
                pos += 3
                continue
        # [^\r\n\p{L}\p{N}]?\p{L}+
        if not (ch in "\r\n" or number) and (letter or flags(pos + 1)[0]):
            pos += 1
            while pos < n and _flags(text[pos])[0]:
                pos += 1
            out.append(text[start:pos])
            continue
        # \p{N}
        if number:
            out.append(ch)
            pos += 1
            continue
        # <space>?[^\s\p{L}\p{N}]+[\r\n]*
        f2 = flags(pos + 1) if ch == " " else (letter, number, space)
        if not any(f2):
            if ch == " ":
                pos += 1
            while pos < n and not any(_flags(text[pos])):
                pos += 1
            while pos < n and text[pos] in "\r\n":
                pos += 1
            out.append(text[start:pos])
            continue
        # \s*[\r\n]+ | \s+(?!\S) | \s+
        count, last_newline_end = 0, 0
        while pos + count < n and _flags(text[pos + count])[2]:
            if text[pos + count] in "\r\n":
                last_newline_end = pos + count + 1
            count += 1
        if last_newline_end:
            pos = last_newline_end
        elif count > 1 and pos + count < n:
            pos += count - 1
        elif count:
            pos += count
        else:
            pos += 1
        out.append(text[start:pos])
    return out


def to_byte_chars(piece: str) -> str:
    return "".join(BYTE_CHARS[b] for b in piece.encode("utf-8"))


@dataclass
class ByteBPE:
    """A trained vocabulary: merges (in rank order) and the special tokens after them."""

    merges: list[tuple[str, str]]
    specials: tuple[str, ...] = SPECIALS
    tokens: list[str] = field(init=False)
    ids: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.tokens = BYTE_ORDER + [a + b for a, b in self.merges] + list(self.specials)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            raise ValueError("duplicate token texts in the vocabulary")
        self.ranks = {pair: r for r, pair in enumerate(self.merges)}
        self._cache: dict[str, tuple[int, ...]] = {}
        self._lines: dict[str, tuple[int, ...]] = {}

    # --- vocabulary ----------------------------------------------------------------------

    @property
    def n_vocab(self) -> int:
        return len(self.tokens)

    def special(self, text: str) -> int:
        return self.ids[text]

    @property
    def token_types(self) -> list[int]:
        """gguf token types: 1 normal, 3 control (the specials)."""
        n_normal = len(self.tokens) - len(self.specials)
        return [1] * n_normal + [3] * len(self.specials)

    @property
    def merge_strings(self) -> list[str]:
        return [f"{a} {b}" for a, b in self.merges]

    # --- encoding ------------------------------------------------------------------------

    def _bpe(self, chars: str) -> tuple[int, ...]:
        symbols = list(chars)
        ranks = self.ranks
        while len(symbols) > 1:
            best, best_rank = None, None
            for i in range(len(symbols) - 1):
                r = ranks.get((symbols[i], symbols[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            pair = (symbols[best], symbols[best + 1])
            merged, i = [], 0
            while i < len(symbols):
                if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == pair:
                    merged.append(pair[0] + pair[1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return tuple(self.ids[s] for s in symbols)

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text (special-token texts are not recognised, as parse_special=False)."""
        known = self._lines.get(text)
        if known is not None:
            return list(known)
        out: list[int] = []
        cache = self._cache
        for piece in pretokenize(text):
            ids = cache.get(piece)
            if ids is None:
                ids = self._bpe(to_byte_chars(piece))
                if len(cache) < 500_000:
                    cache[piece] = ids
            out.extend(ids)
        if len(text) <= 200 and len(self._lines) < 300_000:  # a line: contexts repeat across examples
            self._lines[text] = tuple(out)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids; special tokens are rendered as their names."""
        n_normal = len(self.tokens) - len(self.specials)
        buf = bytearray()
        parts: list[str] = []
        for i in ids:
            i = int(i)
            if i >= n_normal:
                parts.append(buf.decode("utf-8", "replace") + self.tokens[i])
                buf = bytearray()
            else:
                buf.extend(CHAR_BYTES[c] for c in self.tokens[i])
        parts.append(buf.decode("utf-8", "replace"))
        return "".join(parts)

    # --- files ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"merges": self.merge_strings, "specials": list(self.specials)}

    @classmethod
    def from_dict(cls, data: dict) -> "ByteBPE":
        merges = [tuple(m.split(" ")) for m in data["merges"]]
        return cls(merges=merges, specials=tuple(data["specials"]))  # type: ignore[arg-type]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=0), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "ByteBPE":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def count_pretokens(texts: Iterable[str]) -> Counter:
    """How often each pre-token occurs, in byte-character form."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(pretokenize(text))
    return Counter({to_byte_chars(k): v for k, v in counts.items()})


def train_bpe(word_counts: Counter, n_vocab: int, specials: tuple[str, ...] = SPECIALS) -> ByteBPE:
    """Learn merges until the vocabulary (bytes + merges + specials) has n_vocab tokens.

    The classic algorithm with incremental pair counts; ties go to the
    lexicographically smallest pair, so the result is deterministic.
    """
    n_merges = n_vocab - 256 - len(specials)
    if n_merges < 0:
        raise ValueError(f"n_vocab {n_vocab} is smaller than 256 bytes + {len(specials)} specials")
    words = [list(w) for w in word_counts]
    freqs = [word_counts[w] for w in word_counts]
    pair_counts: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for wi, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += freqs[wi]
            where[pair].add(wi)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg or -neg <= 0:
            continue  # stale entry
        merges.append(pair)
        new = pair[0] + pair[1]
        touched: dict[tuple[str, str], int] = defaultdict(int)
        for wi in list(where.pop(pair, ())):
            w, f = words[wi], freqs[wi]
            for p in zip(w, w[1:]):
                touched[p] -= f
            merged, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and w[i] == pair[0] and w[i + 1] == pair[1]:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(w[i])
                    i += 1
            words[wi] = merged
            for p in zip(merged, merged[1:]):
                touched[p] += f
                where[p].add(wi)
        for p, delta in touched.items():
            if delta:
                pair_counts[p] += delta
                if pair_counts[p] > 0:
                    heapq.heappush(heap, (-pair_counts[p], p))
        pair_counts.pop(pair, None)
    return ByteBPE(merges=merges, specials=specials)
