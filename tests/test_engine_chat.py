"""Chat prompts come from the GGUF's template, or a correct fallback when it has none."""

from __future__ import annotations

from dgcode.engine.chat import render_chat
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.synthetic import write_synthetic_gguf

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Fix it."}]


def test_chatml_fallback_for_dream():
    assert render_chat(MESSAGES, template=None, architecture="dream") == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nFix it.<|im_end|>\n<|im_start|>assistant\n")


def test_llada_fallback():
    text = render_chat(MESSAGES[1:], template=None, architecture="llada", bos_token="<|startoftext|>")
    assert text == ("<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nFix it.<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_template_from_the_gguf_is_used(tmp_path):
    template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[bot]"
    path = write_synthetic_gguf(tmp_path / "t.gguf", "test", arch="dream", chat_template=template)
    with Engine(path, EngineOptions(n_ctx=128)) as engine:
        assert engine.chat_prompt(MESSAGES) == "[system] Be brief.\n[user] Fix it.\n[bot]"
        tokens = engine.tokenize(engine.chat_prompt(MESSAGES))
        assert engine.model.detokenize(tokens) == "[system] Be brief.\n[user] Fix it.\n[bot]"


def test_special_tokens_of_the_fallback_tokenize_as_one_token(models, test_ids):
    with Engine(models["dream"], EngineOptions(n_ctx=128)) as engine:
        tokens = engine.tokenize(engine.chat_prompt(MESSAGES))
    assert tokens[0] == test_ids["im_start"]
    assert tokens.count(test_ids["im_end"]) == 2
