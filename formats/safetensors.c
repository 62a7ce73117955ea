/* The one translation unit that compiles the safetensors.h implementation. */
#define QF_SAFETENSORS_IMPLEMENTATION
#include "formats/safetensors.h"
