"""Open the listening sockets of ``vidlens serve`` before anything says the server is up."""

from __future__ import annotations

import errno
import logging
import socket

from ..errors import ConfigError

logger = logging.getLogger(__name__)


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound TCP sockets for ``host``:``port``, one per address the name resolves to.

    Bound here rather than inside uvicorn so that a busy or forbidden port is a one-line error
    before the "serving at" line, and so that ``--port 0`` can print the port it got. The socket
    options match uvicorn's and asyncio's own binding (``SO_REUSEADDR``; IPv6 sockets only IPv6).

    Raises:
        ConfigError: the port is in use or not allowed, or the host is not an address of this
            machine; the message names the host, the port and what to pass instead.
    """
    name = host.strip("[]")
    try:
        infos = socket.getaddrinfo(
            name, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(
            f"cannot listen on {host}: the name does not resolve ({exc.strerror}); pass --host "
            "with an address of this machine, e.g. 127.0.0.1"
        ) from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    unsupported: OSError | None = None
    try:
        for family, kind, proto, _, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:  # e.g. IPv6 turned off in the kernel: use the other addresses
                unsupported = exc
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(addr)
            except OSError as exc:
                raise _bind_error(host, port, exc) from None
            sock.set_inheritable(True)
    except BaseException:
        for s in sockets:
            s.close()
        raise
    if not sockets:
        assert unsupported is not None
        raise _bind_error(host, port, unsupported)
    return sockets


def _bind_error(host: str, port: int, exc: OSError) -> ConfigError:
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"port {port} on {host} is in use (another server?); pass --port with a free port"
        )
    if exc.errno == errno.EACCES:
        return ConfigError(
            f"not allowed to listen on port {port} on {host} (ports below 1024 need root); "
            "pass --port 1024 or higher"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(
            f"cannot listen on {host}: it is not an address of this machine; pass --host with "
            "one of its addresses, e.g. 127.0.0.1"
        )
    return ConfigError(f"cannot listen on port {port} on {host}: {exc.strerror or exc}")
