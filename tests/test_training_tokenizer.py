"""The repair model's byte-level BPE: Python's tokenization equals llama.cpp's on the exported GGUF."""

from __future__ import annotations

import pytest

from dgcode.engine.llama_native import LlamaModel
from dgcode.repair.canvas import DEFAULT_SPEC
from training.corpus import Corpus
from training.export import export_gguf, random_state
from training.tokenizer import SPECIALS, ByteBPE, count_pretokens, pretokenize, train_bpe

TRICKY = [
    "", " ", "\n", "\n\n\n", "  \n  \n", "\t\tx\n", "x   \n", "    return self._x  # it's\n",
    "I'LL it'S we'Re you've", "a1b22c333 0x1F 1_000.5e-3", "s = '''é ü ß — “quoted” ünïcödé'''\n",
    "名前 = 'テスト'  # 注釈\n", "𝔘𝔫𝔦 😀 \u00a0nbsp\u2003em", "x\r\ny\rz", "a\x0cb\x0b", "!!!??? ...\n\n",
    "def f(*a, **k) -> dict[str, int]:\n", "@@ -1,2 +1,2 @@", "<|endoftext|> is plain text here",
]


@pytest.fixture(scope="module")
def lines():
    corpus = Corpus("heldout", max_files=25)
    return [line for f in corpus.files for line in f.lines]


@pytest.fixture(scope="module")
def tok(lines):
    return train_bpe(count_pretokens(lines), 1024)


@pytest.fixture(scope="module")
def llama(tok, tmp_path_factory):
    config = dict(n_vocab=tok.n_vocab, n_embd=32, n_layer=1, n_head=2, n_head_kv=1, n_ff=64, rope_theta=10000.0,
                  rms_eps=1e-6, n_ctx=256, tied_embeddings=True)
    path = export_gguf(random_state(config), config, tok, DEFAULT_SPEC,
                       tmp_path_factory.mktemp("tok") / "tok.gguf", dtype="f32")
    model = LlamaModel(path)
    yield model
    model.close()


def test_vocabulary_layout(tok):
    assert tok.n_vocab == 1024
    assert tok.tokens[-len(SPECIALS):] == list(SPECIALS)
    assert tok.token_types.count(3) == len(SPECIALS)
    assert len(set(tok.tokens)) == tok.n_vocab
    for a, b in tok.merges:  # every merge joins tokens that exist before it
        assert tok.ids[a] < tok.ids[a + b] and tok.ids[b] < tok.ids[a + b]


def test_training_is_deterministic(lines):
    counts = count_pretokens(lines[:3000])
    assert train_bpe(counts, 600).merges == train_bpe(counts, 600).merges


def test_round_trip_and_save(tok, lines, tmp_path):
    text = "".join(lines[:200]) + "".join(TRICKY)
    assert tok.decode(tok.encode(text)) == text
    tok.save(tmp_path / "t.json")
    again = ByteBPE.load(tmp_path / "t.json")
    assert again.tokens == tok.tokens and again.encode(text) == tok.encode(text)


def test_pretokenizer_splits_as_qwen2_does():
    assert pretokenize("    x = f(a)\n") == ["   ", " x", " =", " f", "(a", ")\n"]
    assert pretokenize("it's 42") == ["it", "'s", " ", "4", "2"]


def test_python_tokenizer_equals_llama_cpp_on_corpus_lines(tok, llama, lines):
    mismatches = [line for line in lines[::7] if llama.tokenize(line, parse_special=False) != tok.encode(line)]
    assert not mismatches, mismatches[:3]


@pytest.mark.parametrize("text", TRICKY)
def test_python_tokenizer_equals_llama_cpp_on_tricky_text(tok, llama, text):
    assert llama.tokenize(text, parse_special=False) == tok.encode(text)


def test_llama_cpp_knows_the_special_tokens(tok, llama):
    for name in SPECIALS:
        assert llama.tokenize(name, parse_special=True) == [tok.special(name)]
    text = "x = 1\n"
    assert llama.tokenize("<|fix|>" + text, parse_special=True) == [tok.special("<|fix|>")] + tok.encode(text)
    ids = tok.encode("déjà vu\n")
    assert llama.detokenize(ids) == tok.decode(ids) == "déjà vu\n"
