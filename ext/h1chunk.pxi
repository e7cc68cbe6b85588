# HTTP/1.x chunked bodies: an incremental parser of the chunk framing (sizes, extensions,
# CRLFs, trailers) that tells the loop how many data bytes it may move without looking.

cdef enum:
    H1_CK_SIZE = 0          # reading hex digits of a chunk size (c.ndig of them so far)
    H1_CK_SIZE_WS = 1       # whitespace after the size: only ';' or CR may follow
    H1_CK_EXT = 2           # chunk extension, up to CR
    H1_CK_SIZE_LF = 3       # CR seen after size line, LF must follow
    H1_CK_DATA = 4          # c.remaining bytes of data
    H1_CK_DATA_CR = 5       # CR expected after data
    H1_CK_DATA_LF = 6       # LF expected after data
    H1_CK_TRL_START = 7     # start of a trailer line (or of the final empty line)
    H1_CK_TRL_LINE = 8      # inside a trailer field line
    H1_CK_TRL_LF = 9        # CR seen at the end of a trailer line
    H1_CK_END_LF = 10       # CR of the final empty line seen, LF must follow
    H1_CK_DONE = 11

cdef struct h1_chunk:
    int state
    int ndig                # hex digits read for the current size
    long long remaining     # data bytes left in the current chunk (state DATA)
    long long size          # size of the current chunk
    int done                # the last chunk and trailers have been consumed
    int err                 # 1 after a framing error (the message is poisoned)
    long long ovh           # framing bytes consumed that 2.6's HTX form does not hold (sizes,
                            # CRLFs, trailers' ': ' and line ends), less its end-of-trailers block;
                            # the caller takes it and sets it back to 0 (%U/%B, bin/bout)
    int trl                 # in a trailer line: 0 its name, 1 the ':' and spaces after it, 2 its value

cdef void h1_chunk_init(h1_chunk *c) noexcept nogil:
    c.state = H1_CK_SIZE
    c.ndig = 0
    c.remaining = 0
    c.size = 0
    c.done = 0
    c.err = 0
    c.ovh = 0
    c.trl = 0

cdef inline int _h1_ck_fail(h1_chunk *c) noexcept nogil:
    c.err = 1
    return -1

cdef int h1_chunk_feed(h1_chunk *c, const char *p, int n) noexcept nogil:
    # consumes n bytes of a chunked body; returns how many belong to this message (n unless it
    # ended inside p, then c.done = 1), -1 on malformed framing.  Data bytes are only counted.
    cdef int i = 0, k, st
    cdef unsigned char ch
    cdef long long take
    if c.err:
        return -1
    while i < n:
        st = c.state
        if st == H1_CK_DATA:
            take = c.remaining
            if take > n - i:
                take = n - i
            i += <int>take
            c.remaining -= take
            if c.remaining == 0:
                c.state = H1_CK_DATA_CR
            continue
        ch = <unsigned char>p[i]
        c.ovh += 1          # (given back below for a trailer's name and value bytes)
        if st == H1_CK_SIZE:
            if h1_ctab[ch] & H1_C_HEX:
                if c.size >= (<long long>1 << 58):
                    return _h1_ck_fail(c)     # next digit would pass 2^62
                k = (ch - 48) if ch <= b'9' else ((ch | 0x20) - 87)
                c.size = c.size * 16 + k
                c.ndig += 1
                i += 1
                continue
            if c.ndig == 0:
                return _h1_ck_fail(c)
            if ch == b'\r':
                c.state = H1_CK_SIZE_LF
            elif ch == b';':
                c.state = H1_CK_EXT
            elif ch == b' ' or ch == b'\t':
                c.state = H1_CK_SIZE_WS
            else:
                return _h1_ck_fail(c)
            i += 1
        elif st == H1_CK_SIZE_WS:
            if ch == b'\r':
                c.state = H1_CK_SIZE_LF
            elif ch == b';':
                c.state = H1_CK_EXT
            elif ch != b' ' and ch != b'\t':
                return _h1_ck_fail(c)
            i += 1
        elif st == H1_CK_EXT:
            if ch == b'\r':
                c.state = H1_CK_SIZE_LF
            elif not (h1_ctab[ch] & H1_C_VAL):
                return _h1_ck_fail(c)     # LF, NUL, CTL inside an extension
            i += 1
        elif st == H1_CK_SIZE_LF:
            if ch != b'\n':
                return _h1_ck_fail(c)
            i += 1
            if c.size == 0:
                c.state = H1_CK_TRL_START
            else:
                c.remaining = c.size
                c.state = H1_CK_DATA
            c.size = 0
            c.ndig = 0
        elif st == H1_CK_DATA_CR:
            if ch != b'\r':
                return _h1_ck_fail(c)
            c.state = H1_CK_DATA_LF
            i += 1
        elif st == H1_CK_DATA_LF:
            if ch != b'\n':
                return _h1_ck_fail(c)
            c.state = H1_CK_SIZE
            i += 1
        elif st == H1_CK_TRL_START:
            if ch == b'\r':
                c.state = H1_CK_END_LF
            elif h1_ctab[ch] & H1_C_TCHAR:
                c.state = H1_CK_TRL_LINE
                c.trl = 0
                c.ovh -= 1
            else:
                return _h1_ck_fail(c)     # bare LF, obs-fold, junk
            i += 1
        elif st == H1_CK_TRL_LINE:
            if ch == b'\r':
                c.state = H1_CK_TRL_LF
            elif not (h1_ctab[ch] & H1_C_VAL):
                return _h1_ck_fail(c)
            elif c.trl == 0:
                if ch == b':':
                    c.trl = 1
                else:
                    c.ovh -= 1
            elif c.trl == 2 or (ch != b' ' and ch != b'\t'):
                c.trl = 2
                c.ovh -= 1
            i += 1
        elif st == H1_CK_TRL_LF:
            if ch != b'\n':
                return _h1_ck_fail(c)
            c.state = H1_CK_TRL_START
            i += 1
        elif st == H1_CK_END_LF:
            if ch != b'\n':
                return _h1_ck_fail(c)
            i += 1
            c.state = H1_CK_DONE
            c.done = 1
            c.ovh -= 1          # the end-of-trailers block
            return i
        else:   # DONE: nothing more belongs to this message
            c.ovh -= 1
            return i
    return i

cdef inline long long h1_chunk_data_left(h1_chunk *c) noexcept nogil:
    # data bytes that may be moved without looking at them (e.g. spliced), 0 outside chunk data
    return c.remaining if c.state == H1_CK_DATA else 0

cdef inline void h1_chunk_skip_data(h1_chunk *c, long long n) noexcept nogil:
    # account for n data bytes moved without h1_chunk_feed (n <= h1_chunk_data_left(c))
    c.remaining -= n
    if c.remaining == 0:
        c.state = H1_CK_DATA_CR
