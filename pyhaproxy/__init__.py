"""pyhaproxy: a TCP/HTTP load balancer compatible with HAProxy 1.1/1.2, with its hot path in Cython."""

__version__ = "0.1.0"
