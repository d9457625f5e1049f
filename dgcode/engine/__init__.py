"""The diffusion engine: GGUF models, KV-cached block decoding and parallel unmasking, forward backends.

The bottom layer: imports only fsio and its own modules, never edits, vcs, context, models, repair, config,
workflows or a front end (.importlinter).
"""
