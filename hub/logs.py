"""Logging: plain lines for people, one JSON object per line for log collectors.

One configuration for the hub's loggers and uvicorn's (`uvicorn.error`, whose lines
include tracebacks and websocket openings, and `uvicorn.access`): uvicorn applies it in
every worker process it starts, so each line any process writes has the same shape."""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from hub.settings import Settings

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary: one stderr handler on the root logger,
    every other logger (uvicorn's included) propagating to it."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if settings.log_json else {"format": PLAIN_FORMAT}
    )
    # uvicorn's own loggers come with handlers of their own (plain text): none here.
    uvicorn: dict[str, Any] = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"hub": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "hub",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": settings.log_level.upper()},
        "loggers": {
            "uvicorn": dict(uvicorn),
            "uvicorn.error": dict(uvicorn),
            "uvicorn.access": dict(uvicorn),
            # Alembic narrates every step at INFO; `pos-hub migrate` prints its own summary.
            "alembic": {"level": "WARNING"},
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
