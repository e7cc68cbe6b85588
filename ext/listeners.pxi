# epoll registration and the listeners: enable, full, rate-limited (maxconnrate), pause, resume,
# close, drain.

cdef inline unsigned long long ev_data(int idx, int tag) noexcept nogil:
    return (<unsigned long long>g_sess[idx].gen << 32) | (<unsigned long long>idx << 2) | <unsigned long long>tag


cdef int ep_add(int fd, unsigned int events, unsigned long long data) noexcept nogil:
    cdef epoll_event ev
    ev.events = events
    ev.data.u64 = data
    return epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev)


cdef inline void ep_del(int fd) noexcept nogil:
    cdef epoll_event ev
    epoll_ctl(g_ep, EPOLL_CTL_DEL, fd, &ev)


# ---- listeners


cdef void lst_enable(int li) noexcept nogil:
    cdef lst_t *l = &g_lst[li]
    if l.state == LI_FULL or l.state == LI_READY:
        if ep_add(l.fd, EPOLLIN | EPOLLEXCLUSIVE, <unsigned long long>li << 2 | TAG_LISTENER) == 0:
            l.state = LI_READY


cdef void lst_disable_full(int li) noexcept nogil:
    global g_listeners_full
    cdef lst_t *l = &g_lst[li]
    if l.state == LI_READY:
        ep_del(l.fd)
        l.state = LI_FULL
        g_listeners_full = 1


cdef void lst_limit_rate(int li, long long resume_at) noexcept nogil:
    """`maxconnrate` reached: stop polling the listener (it stays bound and listening, the kernel
    queues what comes) until `resume_at`."""
    global g_cps_resume_at
    cdef lst_t *l = &g_lst[li]
    if l.state == LI_READY:
        ep_del(l.fd)
        l.state = LI_LIMITED
    if g_cps_resume_at == 0 or resume_at < g_cps_resume_at:
        g_cps_resume_at = resume_at


cdef void lst_close(int li) noexcept nogil:
    cdef lst_t *l = &g_lst[li]
    if l.state == LI_CLOSED:
        return
    if l.state == LI_READY:
        ep_del(l.fd)
    close(l.fd)
    l.state = LI_CLOSED


cdef void lst_pause_all() noexcept nogil:
    cdef int li
    for li in range(g_nlst):
        if g_lst[li].state == LI_READY or g_lst[li].state == LI_FULL or g_lst[li].state == LI_LIMITED:
            if g_lst[li].state == LI_READY:
                ep_del(g_lst[li].fd)
            # Leaving the LISTEN state while staying bound frees the port for a new instance.
            shutdown(g_lst[li].fd, SHUT_WR)
            listen(g_lst[li].fd, g_lst[li].backlog)
            shutdown(g_lst[li].fd, SHUT_RD)
            g_lst[li].state = LI_PAUSED


cdef void lst_resume_all() noexcept nogil:
    cdef int li
    for li in range(g_nlst):
        if g_lst[li].state == LI_PAUSED:
            listen(g_lst[li].fd, g_lst[li].backlog)
            g_lst[li].state = LI_FULL
            lst_enable(li)


cdef void lst_recheck_full() noexcept nogil:
    """Re-enable listeners that were disabled because a limit was reached."""
    global g_listeners_full
    cdef int li
    cdef px_t *p
    if not g_listeners_full or g_actconn >= g_maxconn:
        return
    g_listeners_full = 0
    for li in range(g_nlst):
        if g_lst[li].state == LI_FULL:
            p = &g_px[g_lst[li].px]
            if p.feconn < p.conf.maxconn:
                lst_enable(li)
            else:
                g_listeners_full = 1


cdef void lst_resume_rate() noexcept nogil:
    """Poll the rate-limited listeners again (through the 'full' path: maxconn still applies)."""
    global g_cps_resume_at, g_listeners_full
    cdef int li
    g_cps_resume_at = 0
    for li in range(g_nlst):
        if g_lst[li].state == LI_LIMITED:
            g_lst[li].state = LI_FULL
            g_listeners_full = 1
    lst_recheck_full()


cdef int open_listeners() noexcept nogil:
    cdef int li, n = 0
    for li in range(g_nlst):
        if g_lst[li].state != LI_CLOSED:
            n += 1
    return n

