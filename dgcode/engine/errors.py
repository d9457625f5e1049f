"""Errors the engine reports to people: each carries one clear, user-facing message."""


class EngineError(Exception):
    """Base class: something went wrong in the engine; str(error) is shown to the user."""


class ModelFileError(EngineError):
    """The model file is missing, not GGUF, truncated, or unusable for diffusion decoding."""


class PromptTooLongError(EngineError):
    """The prompt plus the answer budget does not fit in the model's context."""


class InvalidSettingsError(EngineError):
    """A sampler or engine setting is out of range."""


class EngineCrashedError(EngineError):
    """The engine's child process died (an abort inside llama.cpp, a kill, out of memory)."""
