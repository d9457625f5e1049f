"""dgcode: a terminal pair-programming assistant driven by a local diffusion language model."""

__version__ = "0.1.0"
