"""The masked-rows step (engine/masked_rows_forward.py): refused with a reason on the stock library, checked on
dgcode's build.

llama_cpp loads its library once per process and the main run keeps llama-cpp-python's own, so the checks
on dgcode's build (tests/masked_rows_checks.py: against a numpy KV cache, the rule for what a step decodes,
answers on one-layer models, the engine and the bench) run in their own pytest process with DGCODE_LIBLLAMA
naming the build that .ci/run makes (DGCODE_TEST_LIBLLAMA).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ON_LIBLLAMA

from dgcode.engine.benchmark import BenchSpec, run_bench
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.errors import InvalidSettingsError
from dgcode.engine.masked_rows_forward import MaskedRowsForward
from dgcode.engine.settings import SamplerSettings

BUILT = os.environ.get("DGCODE_TEST_LIBLLAMA")
CHECKS = Path(__file__).with_name("masked_rows_checks.py")


def test_the_stock_library_refuses_the_step_and_says_what_it_needs(models, test_ids):
    with pytest.raises(InvalidSettingsError, match=r"'masked-rows' backend needs dgcode's libllama.*kernels build"):
        Engine(models["dream"], EngineOptions(n_ctx=64, backend="masked-rows"))
    with pytest.raises(InvalidSettingsError, match="'masked-rows' backend needs dgcode's libllama"):
        run_bench(models["llada"], BenchSpec(prompt_tokens=16, gen_tokens=16, steps=4, sub_block=8,
                                             modes=("dgcode-masked-rows",)))
    with Engine(models["llada"], EngineOptions(n_ctx=64)) as engine:
        assert not engine.ctx.free_positions
        with pytest.raises(ValueError, match="needs dgcode's libllama"):
            MaskedRowsForward(engine.ctx, mask_token=test_ids["mask"], shift_logits=False)
        # The engine itself still answers on the default step.
        assert engine.generate(list(range(5, 20)), SamplerSettings(max_tokens=8, sub_block_size=8)).steps >= 1


@pytest.mark.skipif(not BUILT, reason="no dgcode libllama build: set DGCODE_TEST_LIBLLAMA to a folder made by "
                    "`dgcode kernels build --into FOLDER` (.ci/run does)")
def test_the_checks_pass_on_dgcode_libllama():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CHECKS)],
                          capture_output=True, text=True, timeout=900, cwd=CHECKS.parent.parent,
                          env=dict(os.environ, DGCODE_LIBLLAMA=BUILT, **{ON_LIBLLAMA: "1"}))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    collected = CHECKS.read_text().count("\ndef test_")
    assert passed and int(passed.group(1)) >= collected and "skipped" not in done.stdout, done.stdout[-2000:]
