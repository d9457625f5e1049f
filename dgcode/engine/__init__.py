"""The diffusion engine: GGUF models, KV-cached block decoding and parallel unmasking."""
