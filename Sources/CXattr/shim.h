#ifndef TRAILWATCH_CXATTR_SHIM_H
#define TRAILWATCH_CXATTR_SHIM_H
/* Extended attributes (not in Swift's Glibc module). */
#include <sys/types.h>
#include <sys/xattr.h>
#endif
