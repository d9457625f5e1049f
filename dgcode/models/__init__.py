"""Known diffusion models: the registry (registry.toml), the local store, and resumable, verified downloads.

- ``registry``: what models dgcode knows, where their GGUF files are published, and
  the sampler settings each model's authors recommend.
- ``store``: where downloaded models live (``$DGCODE_DATA_DIR/models``), what is
  there, removing a model with its aliased cache copy, and turning a model
  setting (a path or a registry name) into a file.
- ``hub``: the Hugging Face hub through ``huggingface_hub``: endpoint, token, the shared
  cache, file metadata, readable errors.
- ``download``: a hub file into the Hugging Face cache (``hf_hub_download``), then
  verified and hardlinked (else copied) into the store, atomically.
- ``pull``: a registry entry to a verified local file; ``verify`` of a local file.
"""
