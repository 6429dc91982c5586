#ifndef TRAILWATCH_CLIBDEFLATE_SHIM_H
#define TRAILWATCH_CLIBDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
