"""One model API: a model setting becomes a chosen model file with its engine options and sampler settings.

Every front end (``generate``, ``fix``, the hook, the TUI at start-up and on
``/model``, and the coming ``serve``) turns "the model" into an engine here,
so they agree:

- ``choose_model(config)``: the ``model`` setting (a path, a pulled registry
  name such as ``dream-coder-7b`` or ``dream-coder-7b:Q8_0``, from a flag,
  ``DGCODE_MODEL`` or a config file) resolved to a file, with the registry
  entry it belongs to and the mask token to use (the config's, else the
  registry's for block-diffusion models stored as AR); with no setting, the
  embedded repair model where the caller can use it.  ``NoModelConfigured``
  (one message for every front end) when there is none; ``ModelFileError``
  when a name is not pulled or the file does not exist.
- ``sampler_settings(config, choice)``: dgcode's defaults, under the
  registry entry's recommended sampler for a known model, under what the user
  set (config files, ``DGCODE_*``, flags: any value that is not dgcode's own
  default).
- ``engine_options(config, choice)``: context size, threads, mask token.

The engines themselves are built by each front end's adapter
(``workflows.fix.engine``, ``tui.engine``) from these three.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dgcode.engine.errors import ModelFileError

if TYPE_CHECKING:  # the engine and numpy load only when a model is really opened (the hook starts light)
    from dgcode.engine.settings import EngineOptions, SamplerSettings
    from dgcode.models.registry import ModelEntry

NO_MODEL = ("no model configured: pass --model PATH.gguf (or the name of a pulled model, see `dgcode models "
            "list`), set DGCODE_MODEL, or put `model = \"PATH.gguf\"` in ~/.config/dgcode/config.toml or the "
            "repository's .dgcode.toml; any Dream / DiffuCoder / LLaDA GGUF works")
EMBEDDED = "embedded"
"""``ModelChoice.where`` for dgcode's own repair model, used when nothing is configured."""
CANVAS_TOKENS = 256


class NoModelConfigured(ModelFileError):
    """No model setting anywhere (and none embedded that the caller can use)."""

    def __init__(self, message: str = NO_MODEL):
        super().__init__(message)


@dataclass(frozen=True)
class ModelChoice:
    """A model setting resolved to a file."""

    path: Path
    setting: str
    """The setting as written (a path or a registry name), or ``EMBEDDED``."""
    where: str
    """Where the setting came from (``flag --model``, ``env DGCODE_MODEL``, ``user ~/...``) or ``EMBEDDED``."""
    entry: ModelEntry | None = None
    """The registry entry of a pulled or known model file."""
    mask_token_id: int | None = None

    @property
    def embedded(self) -> bool:
        return self.where == EMBEDDED

    @property
    def name(self) -> str:
        return self.entry.name if self.entry is not None else self.path.name


def _source(config: Mapping[str, object], key: str) -> str:
    """Where ``key`` came from ("default" when dgcode's own default; "" when ``config`` cannot say)."""
    setting = getattr(config, "setting", None)
    if setting is None:
        return ""
    return setting(key).source


def _where(config: Mapping[str, object], key: str) -> str:
    setting = getattr(config, "setting", None)
    return setting(key).describe_source() if setting is not None else "the settings"


def choose_model(config: Mapping[str, object], *, embedded: bool = True) -> ModelChoice:
    """The configured model as a file (see the module docstring); ``embedded``: fall back to the repair model."""
    from dgcode.models.store import resolve_model

    value = config.get("model")
    if value is None or str(value).strip() == "":
        if embedded:
            from dgcode.repair.embedded import embedded_model

            path = embedded_model()
            if path is not None:
                return ModelChoice(path, EMBEDDED, EMBEDDED)
            raise NoModelConfigured(NO_MODEL.replace("no model configured", "no model configured and this install "
                                                     "has no embedded model", 1))
        raise NoModelConfigured()
    resolved = resolve_model(value)
    where = _where(config, "model")
    if not resolved.path.is_file():
        if resolved.path.exists():
            raise ModelFileError(f"model path {value} is not a file (set by {where})")
        raise ModelFileError(f"model file not found: {value} does not exist (set by {where})")
    mask = config.get("mask_token_id")
    return ModelChoice(resolved.path, str(value), where, resolved.entry,
                       mask if mask is not None else resolved.mask_token_id)


def remote_endpoint(config: Mapping[str, object]):
    """The configured ``endpoint`` (workflows/remote_engine.py's Endpoint), or None for a local model.

    The API key is read from the variable ``endpoint_api_key_env`` names; a
    named variable that is not set is a RemoteError, not a silent request
    without a key.
    """
    url = config.get("endpoint")
    if not url:
        return None
    from dgcode.workflows.remote_engine import Endpoint, RemoteError

    variable, key = config.get("endpoint_api_key_env"), None
    if variable:
        key = os.environ.get(str(variable), "").strip() or None
        if key is None:
            raise RemoteError(f"endpoint_api_key_env names {variable}, which is not set: export {variable}=KEY "
                              f"for {url}")
    return Endpoint(str(url), key, config.get("remote_model"))


def warm_engine(config: Mapping[str, object], choice: ModelChoice, say=None):
    """A RemoteEngine on this user's running ``dgcode serve`` of ``choice``'s file, or None (see warm_server.py)."""
    if choice.embedded or config.get("warm_server") is False:
        return None
    from dgcode.workflows.warm_server import find_warm_server

    url = find_warm_server(choice.path)
    if url is None:
        return None
    from dgcode.workflows.remote_engine import Endpoint, RemoteEngine

    engine = RemoteEngine(Endpoint(url), say or (lambda _message: None))
    engine.warm = True
    return engine


def engine_options(config: Mapping[str, object], choice: ModelChoice) -> EngineOptions:
    """Context size, threads and mask token for ``choice``."""
    from dgcode.engine.settings import EngineOptions

    return EngineOptions(n_ctx=config.get("n_ctx"), n_threads=config.get("threads"),
                         mask_token_id=choice.mask_token_id)


def sampler_settings(config: Mapping[str, object], choice: ModelChoice | None = None) -> SamplerSettings:
    """The sampler settings for ``choice``: defaults < the registry's recommendation < the user's settings.

    With a plain mapping (no record of where values came from), every value
    given counts as the user's.
    """
    from dgcode.engine.settings import SamplerSettings

    def users(key: str) -> bool:
        return key in config and config[key] is not None and _source(config, key) != "default"

    entry = choice.entry if choice is not None else None
    if entry is None:
        sub_block = int(config.get("sub_block") or 32)
        kwargs: dict[str, object] = {"threshold": float(config.get("threshold", 0.9)),
                                     "max_tokens": int(config.get("max_tokens") or 512), "sub_block_size": sub_block}
    else:
        max_tokens = int(config.get("max_tokens") or 512)
        recommended = entry.sampler
        if users("sub_block"):
            recommended = dataclasses.replace(recommended, sub_block=int(config["sub_block"]))
        kwargs = recommended.settings_kwargs(max_tokens=max_tokens)
        if users("threshold"):
            kwargs["threshold"] = float(config["threshold"])
        sub_block = int(kwargs["sub_block_size"])
    return SamplerSettings(**kwargs, canvas_size=sub_block * max(1, CANVAS_TOKENS // sub_block))
