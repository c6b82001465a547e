#include <zlib.h>

// zlib spells its initializers as macros (they pass the library's version and the stream's
// size), which Swift cannot call. Raw deflate (negative window bits): no zlib header or
// trailer, as RFC 7692's permessage-deflate carries it.
static inline int docket_deflate_init_raw(z_stream *stream, int level, int windowBits) {
    return deflateInit2(stream, level, Z_DEFLATED, -windowBits, 8, Z_DEFAULT_STRATEGY);
}
static inline int docket_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -15);
}
