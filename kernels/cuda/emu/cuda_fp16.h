/* Stands in for the CUDA header of this name in the CPU emulation (cpu_emulation.h). */
#include "cpu_emulation.h"
