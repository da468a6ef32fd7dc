#ifndef TOLLGATE_CNGHTTP2_SHIM_H
#define TOLLGATE_CNGHTTP2_SHIM_H

// Everything Tollgate uses from libnghttp2 imports into Swift as it is; the shim only names the header.
#include <nghttp2/nghttp2.h>

#endif
