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
