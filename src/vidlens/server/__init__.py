"""HTTP API and web page over one library (``vidlens serve``).

FastAPI and uvicorn come with the ``server`` extra (``pip install 'vidlens[server]'``); they are
imported only when an app is created (:func:`create_app`), so ``vidlens --help`` and the checks
below work without them.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from .app import ServerConfig, create_app

__all__ = [
    "MAX_TOP_K",
    "TOKEN_PATTERN",
    "ServerConfig",
    "check_bind",
    "create_app",
    "is_loopback_host",
]

# Most videos one search returns, in `vidlens search --top-k` and the API's top_k alike. All
# 1000 videos of a library of short clips, with curves: 0.4 s and 0.5 MB on a 2-core machine
# (the answer grows with video length by one saliency score per 2 s of each video).
MAX_TOP_K = 1000

# URL-safe, so it can ride in ?token= unescaped; long enough not to be guessed.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9._~+/=-]{16,512}$")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or address, IPv6 optionally in brackets) is this machine only."""
    h = host.strip().strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a listening address that other machines can reach unless a token guards it."""
    if token is not None and not TOKEN_PATTERN.match(token):
        raise ConfigError(
            "the token must be 16 to 512 characters of letters, digits and ._~+/=-; make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if token is None and not is_loopback_host(host):
        raise ConfigError(
            f"refusing to listen on {host} without a token: other machines could read every "
            "indexed video and its file path. Pass --token TOKEN (or set VIDLENS_TOKEN) so that "
            "every request must carry it, or keep the default --host 127.0.0.1"
        )


def __getattr__(name: str) -> Any:
    if name in ("ServerConfig", "create_app"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
