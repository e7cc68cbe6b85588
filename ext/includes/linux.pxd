# Plain C declarations of the Linux syscalls and structs the worker loop uses.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

cdef extern from "<sys/types.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef long ssize_t
    ctypedef int pid_t

cdef extern from "<errno.h>" nogil:
    int errno
    enum:
        EAGAIN
        EWOULDBLOCK
        EINTR
        EINPROGRESS
        ECONNREFUSED
        EMFILE
        ENFILE
        ENOBUFS
        ENOMEM
        ECONNABORTED
        EPIPE
        ECONNRESET
        EADDRINUSE
        EINVAL
        ENOTCONN

cdef extern from "<unistd.h>" nogil:
    int close(int fd)
    ssize_t read(int fd, void *buf, size_t count)
    ssize_t write(int fd, const void *buf, size_t count)
    pid_t getpid()
    int pipe2(int *fds, int flags)

cdef extern from "<fcntl.h>" nogil:
    enum:
        O_NONBLOCK
        O_CLOEXEC
        SPLICE_F_MOVE
        SPLICE_F_NONBLOCK
        SPLICE_F_MORE
        F_SETPIPE_SZ
    ssize_t splice(int fd_in, long long *off_in, int fd_out, long long *off_out, size_t len, unsigned int flags)
    int fcntl(int fd, int cmd, ...)

cdef extern from "<sys/epoll.h>" nogil:
    ctypedef union epoll_data_t:
        void *ptr
        int fd
        uint32_t u32
        uint64_t u64
    cdef struct epoll_event:
        uint32_t events
        epoll_data_t data
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLLET
        EPOLLEXCLUSIVE
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLL_CTL_DEL
        EPOLL_CLOEXEC
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)

cdef extern from "<signal.h>" nogil:
    ctypedef struct sigset_t:
        pass
    int sigemptyset(sigset_t *s)
    int sigaddset(sigset_t *s, int signo)
    int sigprocmask(int how, const sigset_t *s, sigset_t *old)
    enum:
        SIG_BLOCK
        SIG_UNBLOCK
        SIG_SETMASK
        SIGUSR1
        SIGUSR2
        SIGTTOU
        SIGTTIN
        SIGTERM
        SIGINT
        SIGHUP
        SIGQUIT
        SIGPIPE

cdef extern from "<sys/signalfd.h>" nogil:
    cdef struct signalfd_siginfo:
        uint32_t ssi_signo
    enum:
        SFD_NONBLOCK
        SFD_CLOEXEC
    int signalfd(int fd, const sigset_t *mask, int flags)

cdef extern from "<time.h>" nogil:
    cdef struct timespec:
        long tv_sec
        long tv_nsec
    enum:
        CLOCK_MONOTONIC
        CLOCK_REALTIME
    int clock_gettime(int clk, timespec *ts)

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned short sa_family_t
    cdef struct sockaddr:
        sa_family_t sa_family
    cdef struct sockaddr_storage:
        sa_family_t ss_family
    enum:
        AF_INET
        AF_INET6
        AF_UNIX
        SOCK_STREAM
        SOCK_DGRAM
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_ERROR
        SO_REUSEADDR
        SO_LINGER
        SO_KEEPALIVE
        SHUT_RD
        SHUT_WR
        SHUT_RDWR
        MSG_NOSIGNAL
        MSG_DONTWAIT
        MSG_MORE
        MSG_PEEK
    cdef struct linger:
        int l_onoff
        int l_linger
    int socket(int domain, int type, int protocol)
    int socketpair(int domain, int type, int protocol, int sv[2])
    int bind(int fd, const sockaddr *addr, socklen_t len)
    int connect(int fd, const sockaddr *addr, socklen_t len)
    int listen(int fd, int backlog)
    int accept4(int fd, sockaddr *addr, socklen_t *len, int flags)
    int shutdown(int fd, int how)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
    int getsockname(int fd, sockaddr *addr, socklen_t *len)
    int gethostname(char *name, size_t len)
    ssize_t send(int fd, const void *buf, size_t len, int flags)
    ssize_t recv(int fd, void *buf, size_t len, int flags)
    ssize_t sendto(int fd, const void *buf, size_t len, int flags, const sockaddr *addr, socklen_t alen)

cdef extern from "<sys/ioctl.h>" nogil:
    int ioctl(int fd, unsigned long request, ...)

cdef extern from "<linux/sockios.h>" nogil:
    enum: SIOCOUTQ          # bytes in a socket's send queue, not yet acknowledged (early-hint)

cdef extern from "<sys/un.h>" nogil:
    cdef struct sockaddr_un:
        sa_family_t sun_family
        char sun_path[108]

cdef extern from "<netinet/in.h>" nogil:
    cdef struct in_addr:
        uint32_t s_addr
    cdef struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr
    cdef struct in6_addr:
        uint8_t s6_addr[16]
    cdef struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        in6_addr sin6_addr
    enum:
        IPPROTO_TCP
        IPPROTO_IP
        IP_BIND_ADDRESS_NO_PORT
        IP_FREEBIND
    uint16_t htons(uint16_t)
    uint16_t ntohs(uint16_t)
    uint32_t htonl(uint32_t)
    uint32_t ntohl(uint32_t)

cdef extern from "<netinet/tcp.h>" nogil:
    enum:
        TCP_NODELAY
        TCP_QUICKACK
        TCP_KEEPCNT
        TCP_KEEPIDLE
        TCP_KEEPINTVL
        TCP_DEFER_ACCEPT
        TCP_USER_TIMEOUT

cdef extern from "<arpa/inet.h>" nogil:
    int inet_pton(int af, const char *src, void *dst)
    const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)

cdef extern from "<sys/mman.h>" nogil:
    enum:
        PROT_READ
        PROT_WRITE
        MAP_SHARED
        MAP_ANONYMOUS
    void *MAP_FAILED
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void *addr, size_t length)

cdef extern from "<sys/prctl.h>" nogil:
    enum:
        PR_SET_PDEATHSIG
    int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)

cdef extern from "<regex.h>" nogil:
    ctypedef struct regex_t:
        pass
    ctypedef int regoff_t
    ctypedef struct regmatch_t:
        regoff_t rm_so
        regoff_t rm_eo
    int regcomp(regex_t *preg, const char *regex, int cflags)
    int regexec(const regex_t *preg, const char *string, size_t nmatch, regmatch_t *pmatch,
                int eflags)
    size_t regerror(int errcode, const regex_t *preg, char *errbuf, size_t errbuf_size)
    void regfree(regex_t *preg)
    enum:
        REG_EXTENDED
        REG_ICASE
        REG_NOSUB
        REG_NOTBOL

cdef extern from "<crypt.h>" nogil:
    # libcrypt (Debian's libcrypt-dev): `userlist ... password HASH` (sample.pxi)
    cdef struct crypt_data:
        int initialized
    char *crypt_r(const char *phrase, const char *setting, crypt_data *data)
