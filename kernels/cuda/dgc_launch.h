/* Kernel launches go through DGC_LAUNCH so that the same sources also compile
 * as plain C++ against kernels/cuda/emu/ (a CPU emulation of the CUDA
 * features these kernels use), where <<<...>>> does not parse. */
#ifndef DGC_LAUNCH_H
#define DGC_LAUNCH_H

#ifdef DGC_CPU_EMULATION
#define DGC_LAUNCH(kernel, grid, block, stream) ::dgc_emu::launch((kernel), dim3(grid), dim3(block))
#else
#define DGC_LAUNCH(kernel, grid, block, stream) kernel<<<(grid), (block), 0, (stream)>>>
#endif

#endif
