"""Training configs (``lamina.config``): the names of :mod:`lamina.workflow.config`, where configs
live with the factories and data sources they name (the application layer)."""

from lamina.workflow.config import (
    TABLES,
    Config,
    ConfigError,
    Factory,
    Registry,
    load_config,
    parse_config,
    registry,
)

__all__ = ["TABLES", "Config", "ConfigError", "Factory", "Registry", "load_config",
           "parse_config", "registry"]
