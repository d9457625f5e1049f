"""Plain numpy references for dgcode's GPU kernels (kernels/cuda, kernels/metal); see docs/kernels-gpu.md."""
