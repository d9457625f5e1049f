"""The bounded GGUF header reader: the same facts as gguf's reader, and hostile headers refused, never hung on."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dgcode.engine.errors import ModelFileError
from dgcode.engine.gguf_header import ARRAY, FLOAT32, GGML_BLOCK_SIZES, STRING, UINT32, read_gguf_header
from dgcode.engine.model_file import FILE_TYPE_NAMES, read_model_info, require_diffusion


def test_type_tables_match_the_gguf_package() -> None:
    import gguf

    assert GGML_BLOCK_SIZES == {t.value: gguf.GGML_QUANT_SIZES[t] for t in gguf.GGMLQuantizationType}
    assert FILE_TYPE_NAMES == {t.value: t.name.removeprefix("MOSTLY_") for t in gguf.LlamaFileType}


@pytest.mark.parametrize("arch", ["dream", "llada", "qwen2-no-mask"])
def test_reads_what_the_gguf_reader_reads(models, arch) -> None:
    import gguf

    reader = gguf.GGUFReader(models[arch], "r")
    header = read_gguf_header(models[arch])
    fields = {name: field for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    assert set(header.values) == set(fields)
    for name, field in fields.items():
        assert header.key_offsets[name] == field.offset + 8
        value = header.values[name]
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            assert value == field.contents(), name
    end = max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
    assert header.tensor_data_end == end
    info = read_model_info(models[arch])
    assert info.n_vocab == len(reader.fields["tokenizer.ggml.tokens"].data)


def _field_offsets(path: Path, key: str) -> tuple[int, int]:
    """Where ``key``'s value type code and its value start."""
    header = read_gguf_header(path)
    type_at = header.key_offsets[key] + len(key.encode())
    return type_at, type_at + 4


def _patched(tmp_path: Path, source: Path, name: str, *changes: tuple[int, bytes]) -> Path:
    data = bytearray(source.read_bytes())
    for offset, new in changes:
        data[offset:offset + len(new)] = new
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


def test_a_token_array_of_arrays_is_refused(tmp_path, models) -> None:
    type_at, value_at = _field_offsets(models["dream"], "tokenizer.ggml.tokens")
    bad = _patched(tmp_path, models["dream"], "nested.gguf", (value_at, struct.pack("<I", ARRAY)))
    with pytest.raises(ModelFileError, match="nested arrays are not supported"):
        read_model_info(bad)


def test_an_architecture_of_type_array_is_refused(tmp_path, models) -> None:
    type_at, _ = _field_offsets(models["dream"], "general.architecture")
    bad = _patched(tmp_path, models["dream"], "arch-array.gguf", (type_at, struct.pack("<I", ARRAY)))
    with pytest.raises(ModelFileError):
        read_model_info(bad)


def test_a_nan_context_length_is_a_clear_error(tmp_path, models) -> None:
    type_at, value_at = _field_offsets(models["dream"], "dream.context_length")
    assert read_gguf_header(models["dream"]).types["dream.context_length"] == UINT32
    bad = _patched(tmp_path, models["dream"], "nan.gguf", (type_at, struct.pack("<I", FLOAT32)),
                   (value_at, struct.pack("<f", float("nan"))))
    with pytest.raises(ModelFileError, match="dream.context_length must be an integer, got float32"):
        read_model_info(bad)


def gguf_bytes(pairs: list[tuple[str, int, bytes]]) -> bytes:
    """A tensor-less GGUF v3 file with the given (key, type code, encoded value) pairs."""
    body = b"".join(struct.pack("<Q", len(k.encode())) + k.encode() + struct.pack("<I", t) + v for k, t, v in pairs)
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + body
    return data + b"\0" * (-len(data) % 32)


def text_value(text: str) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode()


def tokens_value(count: int) -> bytes:
    return struct.pack("<IQ", STRING, count) + b"".join(text_value(f"t{i}") for i in range(count))


def minimal(arch: str = "dream", **extra: tuple[int, bytes]) -> list[tuple[str, int, bytes]]:
    pairs = [("general.architecture", STRING, text_value(arch)),
             (f"{arch}.context_length", UINT32, struct.pack("<I", 256)),
             (f"{arch}.block_count", UINT32, struct.pack("<I", 2)),
             ("tokenizer.ggml.tokens", ARRAY, tokens_value(8))]
    return pairs + [(key, t, v) for key, (t, v) in extra.items()]


def test_a_mask_token_id_stored_as_a_string_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "string-mask.gguf"
    path.write_bytes(gguf_bytes(minimal(**{"tokenizer.ggml.mask_token_id": (STRING, text_value("7"))})))
    with pytest.raises(ModelFileError, match="mask_token_id must be an integer, got string"):
        read_model_info(path)


def test_a_minimal_header_loads(tmp_path) -> None:
    path = tmp_path / "ok.gguf"
    path.write_bytes(gguf_bytes(minimal(**{"tokenizer.ggml.mask_token_id": (UINT32, struct.pack("<I", 7))})))
    info = read_model_info(path)
    assert (info.architecture, info.n_vocab, info.mask_token_id, info.context_length) == ("dream", 8, 7, 256)


def test_terminal_escapes_in_the_header_are_not_echoed_raw(tmp_path) -> None:
    hostile = "\x1b]2;PWNED\x07\x1b[2J"
    path = tmp_path / "escape.gguf"
    path.write_bytes(gguf_bytes(minimal(hostile)))
    info = read_model_info(path)
    with pytest.raises(ModelFileError) as raised:
        require_diffusion(info)
    assert "\x1b" not in str(raised.value) and "\x07" not in str(raised.value)
    assert "\\x1b" in str(raised.value)


def test_a_fifo_is_refused_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        from dgcode.engine.errors import ModelFileError
        from dgcode.engine.model_file import read_model_info
        try:
            read_model_info({str(fifo)!r})
        except ModelFileError as error:
            print(error)
        """)], capture_output=True, text=True, timeout=60)
    assert "not a regular file" in done.stdout, done.stderr


CORPUS_SCRIPT = """
import json, random, resource, struct, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # unbounded allocation fails loudly
from dgcode.engine.errors import ModelFileError
from dgcode.engine.gguf_header import read_gguf_header
from dgcode.engine.model_file import read_model_info
source, folder = sys.argv[1], sys.argv[2]
data = open(source, 'rb').read()
header = read_gguf_header(source)
header_end = max(header.key_offsets.values()) + 64
offsets = sorted(header.key_offsets.values())
rng = random.Random(7)
cases = []
for i in range(60):  # bit flips in the header
    buf = bytearray(data); at = rng.randrange(8, header_end); buf[at] ^= 1 << rng.randrange(8); cases.append(buf)
for i in range(50):  # cut points
    cases.append(bytearray(data[:rng.randrange(0, len(data))]))
for i in range(40):  # huge lengths and counts (negative when read as signed)
    buf = bytearray(data); at = rng.choice(offsets) - 8
    buf[at:at + 8] = struct.pack('<Q', rng.choice([2**63, 2**64 - 1, 2**40, len(data) * 2])); cases.append(buf)
for i in range(40):  # wrong type codes
    buf = bytearray(data); key_at = rng.choice(offsets)
    klen = struct.unpack_from('<Q', data, key_at - 8)[0]
    buf[key_at + klen:key_at + klen + 4] = struct.pack('<I', rng.choice([9, 8, 6, 12, 13, 255, 2**32 - 1]))
    cases.append(buf)
for i in range(20):  # header counts
    buf = bytearray(data); at = rng.choice([8, 16])
    buf[at:at + 8] = struct.pack('<Q', rng.choice([0, 1, 2**63, 2**64 - 1, 10**6])); cases.append(buf)
outcome = {'loaded': 0, 'refused': 0, 'crashed': [], 'slowest_s': 0.0}
for n, buf in enumerate(cases):
    path = f'{folder}/case{n}.gguf'
    open(path, 'wb').write(bytes(buf))
    began = time.monotonic()
    try:
        read_model_info(path); outcome['loaded'] += 1
    except ModelFileError:
        outcome['refused'] += 1
    except BaseException as error:
        outcome['crashed'].append(f'case {n}: {type(error).__name__}: {error}')
    outcome['slowest_s'] = max(outcome['slowest_s'], time.monotonic() - began)
outcome['cases'] = len(cases)
print(json.dumps(outcome))
"""


def test_a_corpus_of_mutated_headers_gets_clear_errors(tmp_path, models) -> None:
    done = subprocess.run([sys.executable, "-c", CORPUS_SCRIPT, str(models["dream"]), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["cases"] >= 200
    assert outcome["crashed"] == []
    assert outcome["refused"] > 100  # most mutations are caught, not loaded
