"""Bad model files and prompts each get one clear message, before llama.cpp sees them."""

from __future__ import annotations

import shutil

import pytest

from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.errors import ModelFileError, PromptTooLongError
from dgcode.engine.model_file import read_model_info, require_diffusion
from dgcode.engine.unmasking import SamplerSettings


def test_reads_header_facts(models, test_ids):
    info = read_model_info(models["dream"])
    assert info.architecture == "dream"
    assert info.mask_token_id == test_ids["mask"]
    assert info.eos_token_id == test_ids["eos"]
    assert info.shift_logits is True
    assert info.context_length == 4096 and info.n_vocab == 384 and info.n_layer == 2
    assert info.cached_architecture == "qwen2"
    llada = read_model_info(models["llada"])
    assert llada.shift_logits is False and llada.cached_architecture == "llama"


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        read_model_info(tmp_path / "nope.gguf")


def test_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="folder"):
        read_model_info(tmp_path)


def test_not_gguf(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 this is a zip file, not a model" * 10)
    with pytest.raises(ModelFileError, match="not a GGUF"):
        read_model_info(bad)


def test_empty_file(tmp_path):
    bad = tmp_path / "empty.gguf"
    bad.write_bytes(b"")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        read_model_info(bad)


def test_unsupported_version(tmp_path, models):
    data = bytearray(models["dream"].read_bytes())
    data[4:8] = (99).to_bytes(4, "little")
    bad = tmp_path / "v99.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="version 99"):
        read_model_info(bad)


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.02, 0.001])
def test_truncated_file(tmp_path, models, keep):
    data = models["dream"].read_bytes()
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(data[: max(9, int(len(data) * keep))])
    with pytest.raises(ModelFileError, match="truncated|corrupt"):
        read_model_info(bad)


def test_truncated_file_never_reaches_llama(tmp_path, models):
    data = models["dream"].read_bytes()
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(data[:-100])
    with pytest.raises(ModelFileError, match="truncated"):
        Engine(bad)


def test_autoregressive_model_without_mask_token(models):
    info = read_model_info(models["qwen2-no-mask"])
    with pytest.raises(ModelFileError, match="autoregressive 'qwen2' model with no mask token"):
        require_diffusion(info)
    with pytest.raises(ModelFileError, match="mask token"):
        Engine(models["qwen2-no-mask"])


def test_mask_token_outside_vocab(models):
    info = read_model_info(models["qwen2-no-mask"])
    with pytest.raises(ModelFileError, match="outside the vocabulary"):
        require_diffusion(info, mask_token_id=10_000)


def test_block_diffusion_model_stored_as_ar_with_named_mask(models, test_ids):
    """A qwen2-architecture model runs on the cached path once its mask token is named."""
    with Engine(models["qwen2-no-mask"], EngineOptions(n_ctx=256, mask_token_id=test_ids["eos"] - 1)) as engine:
        assert engine.cached and engine.causal_prefill
        result = engine.generate("hello", SamplerSettings(max_tokens=16, stop_at_eos=False))
        assert len(result.tokens) == 16


def test_prompt_longer_than_context(models):
    with Engine(models["dream"], EngineOptions(n_ctx=128)) as engine:
        with pytest.raises(PromptTooLongError, match="needs 164 positions, but the context holds 128"):
            engine.generate(list(range(100)), SamplerSettings(max_tokens=64))


def test_context_larger_than_model_allows(models):
    from dgcode.engine.errors import InvalidSettingsError

    with pytest.raises(InvalidSettingsError, match="exceeds the model's context length 4096"):
        Engine(models["dream"], EngineOptions(n_ctx=8192))


def test_users_file_is_never_modified(tmp_path, models):
    user_model = tmp_path / "mine.gguf"
    shutil.copy(models["dream"], user_model)
    before = user_model.read_bytes()
    stat = user_model.stat()
    with Engine(user_model, EngineOptions(n_ctx=256)) as engine:
        engine.generate("x", SamplerSettings(max_tokens=8))
    assert user_model.read_bytes() == before
    assert user_model.stat().st_mtime_ns == stat.st_mtime_ns


def test_flash_attention_choice():
    from dgcode.engine.engine import use_flash_attention

    class Shape:
        n_head = 8

    assert use_flash_attention(Shape, 2304, on_gpu=True) is True
    assert use_flash_attention(Shape, 2304, on_gpu=False) is False  # 2304^2 x 8 x 4 B = 170 MB of scores
    assert use_flash_attention(Shape, 8192, on_gpu=False) is True   # 2.1 GB of scores: flash attention instead
