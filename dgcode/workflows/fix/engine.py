"""The model behind `dgcode fix` and the hook: the seam the pipeline needs (FixEngine) and how it is opened.

``engine_from_config`` opens the configured model through the one model API
(workflows/model.py) as a ``ModelEngine`` (workflows/model_engine.py), which
loads on first use, so a check command that already passes loads nothing;
``repairer_for`` opens dgcode's repair model the same way.  Tests put a
scripted engine that replays queued answers behind the same seam.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from dgcode.engine.errors import ModelFileError
from dgcode.engine.settings import SamplerSettings
from dgcode.workflows.fix.report import Answer
from dgcode.workflows.model_engine import ModelEngine, RenderChat, StepObserver  # noqa: F401  (RenderChat: re-export)

LAYOUT_PREFIX = "dgcode.repair."
"""The metadata keys of a repair model (repair/repair_model.py's LAYOUT_KEY, which imports numpy and more)."""


class FixEngine(Protocol):
    """What the pipeline needs from a model."""

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None) -> Answer: ...

    def close(self) -> None: ...


def engine_from_config(config: Mapping[str, object], say: Callable[[str], None] = lambda _m: None,
                       on_copy_progress: Callable[[int, int], None] | None = None) -> FixEngine:
    """A (not yet started) engine for the configured model, chosen by the one model API (workflows/model.py).

    With an ``endpoint`` configured, the remote engine (workflows/remote_engine.py) instead.
    """
    from dgcode.engine.worker import EngineClient
    from dgcode.workflows.model import choose_model, engine_options, remote_endpoint, warm_engine

    endpoint = remote_endpoint(config)
    if endpoint is not None:
        from dgcode.workflows.remote_engine import RemoteEngine

        return RemoteEngine(endpoint, say)

    choice = choose_model(config, embedded=False)
    warm = warm_engine(config, choice, say)
    if warm is not None:
        say(f"using the running `dgcode serve` of {choice.path.name} at {warm.endpoint.base}")
        return warm
    return ModelEngine(EngineClient(choice.path, engine_options(config, choice)), say, on_copy_progress)


class RepairClientEngine(ModelEngine):
    """syntax.SyntaxRepairer over an EngineClient running a repair model; loads on first use."""

    def __init__(self, client, spec, say: Callable[[str], None] = lambda _m: None, policy=None):
        super().__init__(client, say)
        self.spec = spec
        self.policy = policy
        """When a repair that compiles is still not offered (repair/abstain.py); None: every one is."""

    def ask(self, source: str, lineno: int, message: str, attempt: int = 0, offset: int = 0):
        from dgcode.repair.repair_model import RANKED_ALTERNATIVES, RepairStep

        self.start()
        return self.client.call(RepairStep(source, lineno, message, self.spec, attempt,
                                           alternatives=RANKED_ALTERNATIVES, offset=offset))


def repairer_for(model_path: Path, config: Mapping[str, object], say: Callable[[str], None] = lambda _m: None):
    """A (not yet started) repair engine when `model_path` is a dgcode repair model, else None.

    dgcode's bounded header reader answers "is it one?" first (a few ms): ``read_layout`` builds every
    field with gguf's reader, which took 6 s on a 152k-token vocabulary before a full model even loaded.
    """
    from dgcode.engine.gguf_header import read_gguf_header

    try:
        header = read_gguf_header(model_path)
    except ModelFileError:  # not a readable GGUF: certainly no repair model; loading it reports why
        return None
    if not any(key.startswith(LAYOUT_PREFIX) for key in header.values):
        return None
    from dgcode.engine.settings import EngineOptions
    from dgcode.engine.worker import EngineClient
    from dgcode.repair.abstain import DEFAULT_POLICY, policy_for
    from dgcode.repair.repair_model import NotARepairModel, read_layout

    try:
        spec = read_layout(model_path)
    except NotARepairModel:
        return None
    options = EngineOptions(n_ctx=spec.canvas, n_threads=config.get("threads"))
    margin = config.get("repair.min_margin")
    policy = DEFAULT_POLICY if margin is None else policy_for(float(margin))
    return RepairClientEngine(EngineClient(model_path, options), spec, say, policy)
