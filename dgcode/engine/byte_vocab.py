"""The GPT-2 byte-level character table: which printable character stands for each byte in a byte-level BPE vocabulary.

Qwen, Dream and LLaMA-3 tokenizers (and dgcode's own repair model and the
synthetic test models) spell every byte as one of 256 printable characters.
Production code (the repair canvas, the training tokenizer) and the synthetic
model writer share this table from here, so nothing outside tests imports the
test-model writer.
"""

from __future__ import annotations


def _printable_bytes() -> list[int]:
    return list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))


def bytes_to_unicode() -> list[str]:
    """The GPT-2 byte-level characters, index = position in the vocab (not the byte)."""
    bs = _printable_bytes()
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def byte_char_map() -> dict[int, str]:
    """byte value -> its byte-level unicode character."""
    bs = _printable_bytes()
    order = bs + [b for b in range(256) if b not in bs]
    return dict(zip(order, bytes_to_unicode()))
