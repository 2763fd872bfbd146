"""ServerConfig: limits are checked when the config is made, naming the field."""

from __future__ import annotations

import pytest

from vidlens.errors import ConfigError
from vidlens.server.app import ServerConfig


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_bad_query_threads_is_a_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match="query_threads"):
        ServerConfig(query_threads=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 1, 4])
def test_query_threads_accepts_zero_for_the_libraries_defaults(value: int) -> None:
    assert ServerConfig(query_threads=value).query_threads == value


def test_an_address_family_the_kernel_lacks_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IPv6 turned off in the kernel (it cannot be turned off here, so sockets of that family
    are refused the way such a kernel refuses them): ::1 is a ConfigError, not a traceback."""
    import errno
    import socket

    from vidlens.server._listen import listen_sockets

    real_socket = socket.socket

    def no_ipv6(family: int = socket.AF_INET, *args: object) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return real_socket(family, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "socket", no_ipv6)
    with pytest.raises(ConfigError, match=r"cannot listen on port 0 on ::1: Address family"):
        listen_sockets("::1", 0)
    (sock,) = listen_sockets("127.0.0.1", 0)  # the other family still works
    sock.close()
