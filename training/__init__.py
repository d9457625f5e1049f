"""Training, export and evaluation of dgcode's own small diffusion model that repairs Python syntax errors."""
