"""The embedded default model: dgcode's own small repair model, shipped inside the package."""

from __future__ import annotations

from pathlib import Path

EMBEDDED_MODEL = Path(__file__).with_name("dgcode-repair.gguf")


def embedded_model() -> Path | None:
    """The shipped repair model's path, or None when this install has none."""
    return EMBEDDED_MODEL if EMBEDDED_MODEL.is_file() else None
