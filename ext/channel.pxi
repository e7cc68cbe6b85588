# Channels: one direction of a session's data, held in a user buffer and/or a pipe; moving
# bytes one way: first whatever sits in the buffer, then splice() through a pipe.

cdef enum:
    XF_RD = 1          # read progress on the source
    XF_WR = 2          # write progress on the destination
    XF_SRC_ERR = 4     # the source failed (reset)
    XF_DST_ERR = 8     # the destination failed (reset / broken pipe)
    SPLICE_CHUNK = 1 << 20
    COPY_CHUNK = 16384   # below this, recv()/send() through the stack costs less than two splices


cdef enum:
    CH_HDR = 0
    CH_BODY = 1
    CH_DONE = 2


cdef inline unsigned long long chan_count(chan_t *ch) noexcept nogil:
    """The bytes logged (%U, %B) and counted (bin, bout): those sent, in HTTP mode as 2.6 counts
    them, each message's size in its HTX form: its head's as received (ch.adj, set as heads are
    parsed; less the chunked framing stripped), and its body's bytes sent (those past the heads
    forwarded: a head that never went out, say to a server that refused the connection, still
    counts as 2.6 counts it, on receipt)."""
    cdef long long body = <long long>ch.bytes - ch.hdr_wire
    if body < 0:
        body = 0
    body += ch.adj
    return <unsigned long long>body if body > 0 else 0


cdef inline void chan_take_ovh(chan_t *ch) noexcept nogil:
    """Chunked framing the parser stripped: not counted."""
    ch.adj -= ch.ck.ovh
    ch.ck.ovh = 0


cdef void chan_release(chan_t *ch) noexcept nogil:
    if ch.pipe_r >= 0:
        # (pipe_put closes a pipe still holding data rather than pooling it)
        pipe_put(ch)
    if ch.buf != NULL:
        buf_put(ch.buf)
        ch.buf = NULL


cdef inline void chan_compact(chan_t *ch) noexcept nogil:
    """Once everything analysed has been sent, move the unanalysed rest to the front."""
    if ch.buf == NULL or ch.buf_off < ch.buf_len:
        return
    if ch.buf_in > ch.buf_len and ch.buf_len > 0:
        memmove(ch.buf, ch.buf + ch.buf_len, ch.buf_in - ch.buf_len)
    ch.buf_in -= ch.buf_len
    ch.buf_len = 0
    ch.buf_off = 0
    ch.scan_from = 0


cdef inline void chan_reset_msg(chan_t *ch) noexcept nogil:
    ch.phase = CH_HDR
    ch.big = 0
    ch.chunked = 0
    ch.to_fwd = 0
    ch.scan_from = 0
    ch.eof = 0


cdef int chan_recv(chan_t *ch, int fd, int *ready, int limit) noexcept nogil:
    """recv() into the free part of buf up to `limit` bytes in all: >0 read, 0 EOF, -1 nothing now, -2 error."""
    cdef ssize_t n
    if not ready[0]:
        return -1            # an idle connection holds no buffer
    if ch.buf == NULL:
        ch.buf = buf_get()
        if ch.buf == NULL:
            return -2
    if ch.buf_in >= limit:
        return -1
    n = io_recv(fd, ch.buf + ch.buf_in, limit - ch.buf_in)   # tls: recv() or SSL_read()
    if n > 0:
        if io_eof_pending(fd):
            ready[0] = 2         # tls: the peer's end came with the data; read on until 0
        elif n < limit - ch.buf_in and ready[0] == 1:
            # Edge-triggered: a short read drained the socket; new data raises a new edge.
            # (ready == 2: the peer's FIN came with that edge, keep reading until 0.)
            ready[0] = 0
        ch.buf_in += n
        return <int>n
    if n == 0:
        ch.eof = 1
        return 0
    if errno == EAGAIN:
        ready[0] = 0
        return -1
    if errno == EINTR:
        return -1
    ch.eof = 1
    ch.err = 1
    return -2


cdef int chan_flush_buf(chan_t *ch, int dst, int *dst_ready) noexcept nogil:
    """Send the buffered bytes; returns XF_* flags."""
    cdef ssize_t n
    cdef int r = 0
    while ch.buf_off < ch.buf_len and dst_ready[0]:
        n = io_send(dst, ch.buf + ch.buf_off, ch.buf_len - ch.buf_off)   # tls: send() or SSL_write()
        if n > 0:
            ch.buf_off += n
            ch.bytes += n
            r |= XF_WR
        elif n < 0 and (errno == EAGAIN or errno == EINTR):
            if errno == EAGAIN:
                dst_ready[0] = 0
        else:
            ch.err = 1
            return r | XF_DST_ERR
    if ch.buf_off >= ch.buf_len and ch.buf_in <= ch.buf_len and not ch.hold:
        # Everything sent and nothing unanalysed behind it: start again at the front.
        ch.buf_off = 0
        ch.buf_len = 0
        ch.buf_in = 0
    return r


cdef int chan_copy(chan_t *ch, int src, int dst, int *src_ready, int *dst_ready) noexcept nogil:
    """Small transfers: recv() into the stack, send() at once; what the peer cannot take waits in buf.

    Switches the channel to splice() (ch.big) as soon as a read fills the whole chunk.
    """
    cdef char tmp[COPY_CHUNK]
    cdef ssize_t n, m
    cdef size_t want
    cdef int r = 0
    while src_ready[0] and dst_ready[0] and not ch.eof and ch.to_fwd != 0:
        want = COPY_CHUNK
        if ch.to_fwd > 0 and ch.to_fwd < <long long>want:
            want = <size_t>ch.to_fwd
        n = io_recv(src, tmp, want)   # tls
        if n == 0:
            ch.eof = 1
            return r | XF_RD
        if n < 0:
            if errno == EAGAIN:
                src_ready[0] = 0
                return r
            if errno == EINTR:
                continue
            ch.eof = 1
            ch.err = 1
            return r | XF_SRC_ERR
        r |= XF_RD
        if ch.to_fwd > 0:
            ch.to_fwd -= n
        if io_eof_pending(src):
            src_ready[0] = 2     # tls: the end of stream is behind these bytes
        elif <size_t>n < want and src_ready[0] == 1:
            src_ready[0] = 0
        m = io_send(dst, tmp, n)   # tls
        if m < 0:
            if errno != EAGAIN and errno != EINTR:
                ch.err = 1
                return r | XF_DST_ERR
            m = 0
        if m > 0:
            ch.bytes += m
            r |= XF_WR
        if m < n:
            # The destination is full: keep the rest for chan_flush_buf.
            dst_ready[0] = 0
            if ch.buf == NULL:
                ch.buf = buf_get()
                if ch.buf == NULL:
                    ch.err = 1
                    return r | XF_DST_ERR
            memcpy(ch.buf, tmp + m, n - m)
            ch.buf_off = 0
            ch.buf_len = <int>(n - m)
            ch.buf_in = ch.buf_len
            return r
        if <size_t>n == COPY_CHUNK and not ch.nosplice and not io_copy_only(src) and not io_copy_only(dst):   # tls, h2: never splice
            ch.big = 1
            return r
    return r


cdef int chan_xfer(chan_t *ch, int src, int dst, int *src_ready, int *dst_ready) noexcept nogil:
    """Forward src -> dst while both sides allow it, honouring ch.to_fwd (-1 = unbounded)."""
    cdef ssize_t n
    cdef size_t want
    cdef int r
    r = chan_flush_buf(ch, dst, dst_ready)
    if r & XF_DST_ERR or ch.buf_len > 0:
        return r
    if io_copy_only(src) or io_copy_only(dst) or ch.nosplice:
        # tls: a TLS side (or an HTTP/2 stream's memory) never splices: through the stack and the buffer only
        if ch.to_fwd == 0 or ch.buf_in > 0:
            return r
        return r | chan_copy(ch, src, dst, src_ready, dst_ready)
    if not ch.big and ch.in_pipe == 0 and ch.buf_in == 0:
        r |= chan_copy(ch, src, dst, src_ready, dst_ready)
        if (r & (XF_DST_ERR | XF_SRC_ERR)) or not ch.big:
            return r
    while True:
        while ch.in_pipe > 0 and dst_ready[0]:
            n = splice(ch.pipe_r, NULL, dst, NULL, ch.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
            if n > 0:
                ch.in_pipe -= n
                ch.bytes += n
                r |= XF_WR
            elif n < 0 and errno == EAGAIN:
                dst_ready[0] = 0
            elif n < 0 and errno == EINTR:
                pass
            else:
                ch.err = 1
                return r | XF_DST_ERR
        if ch.in_pipe > 0:
            return r
        if ch.eof or ch.to_fwd == 0 or not src_ready[0]:
            if ch.pipe_r >= 0:
                pipe_put(ch)
            return r
        if pipe_get(ch) < 0:
            # no pipe to be had (the fd limit counts two sockets per connection, as 2.6's does,
            # not pipes): this channel copies through its buffer from now on
            ch.nosplice = 1
            if ch.to_fwd == 0 or ch.buf_in > 0:
                return r
            return r | chan_copy(ch, src, dst, src_ready, dst_ready)
        want = SPLICE_CHUNK
        if ch.to_fwd > 0 and ch.to_fwd < <long long>want:
            want = <size_t>ch.to_fwd
        n = splice(src, NULL, ch.pipe_w, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
        if n > 0:
            ch.in_pipe += n
            if ch.to_fwd > 0:
                ch.to_fwd -= n
            # No short-read shortcut here: a pipe fills by buffer slots, not bytes, so a short
            # splice does not mean the socket is drained; only EAGAIN says so.
            r |= XF_RD
        elif n == 0:
            ch.eof = 1
            r |= XF_RD
        elif errno == EAGAIN:
            src_ready[0] = 0
        elif errno == EINTR:
            pass
        else:
            ch.eof = 1
            ch.err = 1
            return r | XF_SRC_ERR
