"""``vidlens serve``: the HTTP API and search page over one library.

Attached to the main CLI by :mod:`vidlens.cli`; also runnable alone as
``python -m vidlens.server.cli --library DIR``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from ..errors import VidlensError
from . import check_bind
from ._listen import listen_sockets

__all__ = ["serve"]

logger = logging.getLogger(__name__)

EXIT_ERROR = 1


@click.command("serve")
@click.option(
    "--library",
    "library",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="VIDLENS_LIBRARY",
    default="vidlens-library",
    show_default=True,
    help="Library folder (env VIDLENS_LIBRARY).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but a loopback address needs --token.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--token",
    envvar="VIDLENS_TOKEN",
    default=None,
    help="Require this token on every API and media request (env VIDLENS_TOKEN); 16+ characters.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve(library: Path, host: str, port: int, token: str | None, log_level: str) -> None:
    """Serve the search page and HTTP API of a library (http://127.0.0.1:8000/ by default).

    Open the printed address in a browser, search in plain words and click a moment to play it.
    The API is described at /openapi.json. Videos indexed while the server runs appear as soon
    as `vidlens index` commits them.
    """
    token = token or None
    try:
        check_bind(host, token)  # before the heavy imports: a refusal should be instant
    except VidlensError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    try:
        import uvicorn

        from .app import create_app, redact_tokens_filter
    except ImportError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    try:
        # bound before the "serving" line: a busy port is an error, not a success then a trace
        sockets = listen_sockets(host, port)
    except VidlensError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    port = sockets[0].getsockname()[1]  # the port the system chose for --port 0
    app = create_app(library, token=token)
    root = library.expanduser().resolve()
    if not (root / "manifest.json").exists():
        click.echo(
            f"note: no library at {root} yet; the page will show how to create one", err=True
        )
    shown_host = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/"
    click.echo(f"vidlens: serving {root} at {url}" + ("#token=<your token>" if token else ""))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        proxy_headers=False,
    )
    # Config() sets up uvicorn's loggers; query tokens in media URLs must not reach the log.
    logging.getLogger("uvicorn.access").addFilter(redact_tokens_filter())
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in tests
    serve()
