"""The embedded default model: dgcode's own small repair model, shipped inside the package."""

from __future__ import annotations

from pathlib import Path

EMBEDDED_MODEL = Path(__file__).with_name("dgcode-repair.gguf")
ABOUT = ("dgcode's embedded model: a small model (trained by this project) that repairs Python syntax errors "
         "only. For bug fixes, instructions and other languages use a full diffusion model: "
         "`dgcode models list`, `dgcode models pull NAME`, or --model PATH.gguf")


def embedded_model() -> Path | None:
    """The shipped repair model's path, or None when this install has none."""
    return EMBEDDED_MODEL if EMBEDDED_MODEL.is_file() else None
