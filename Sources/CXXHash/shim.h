#include <xxhash.h>
/* Debian's libxxhash also exports run-time CPU-dispatching entry points (AVX2 here).
   Keep both names: the plain XXH3_* are not macro-renamed to *_dispatch. */
#define XXH_DISPATCH_DISABLE_REPLACE 1
#include <xxh_x86dispatch.h>
