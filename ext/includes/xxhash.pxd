# libxxhash (Debian's libxxhash-dev): the xxh32, xxh64 and xxh3 converters (ext/converters.pxi).

from libc.stdint cimport uint32_t, uint64_t

cdef extern from "xxhash.h" nogil:
    uint32_t XXH32(const void *data, size_t n, uint32_t seed)
    uint64_t XXH64(const void *data, size_t n, uint64_t seed)
    uint64_t XXH3_64bits_withSeed(const void *data, size_t n, uint64_t seed)
