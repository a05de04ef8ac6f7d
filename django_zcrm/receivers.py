"""Receivers: logging handlers from settings, and rebuilt caches when ``settings.ZCRM`` changes.

Connected by :meth:`django_zcrm.apps.ZCRMConfig.ready`.
"""

from __future__ import annotations

import logging
from typing import Any

from . import oauth, persistence
from .conf import SETTING_NAME, get_settings
from .redaction import RedactingFilter

_HANDLER_MARK = "_django_zcrm_handler"
_LEVEL_MARK = "_django_zcrm_set_level"


def configure_logging() -> None:
    """Attach the handlers asked for by APPLICATION_LOG_FILE_PATH and LOG_IN_CONSOLE."""
    logger = logging.getLogger("django_zcrm")
    for handler in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(handler)
        handler.close()
    if getattr(logger, _LEVEL_MARK, False):
        # Give the level back so that turning our handlers off leaves the project's logging as it was.
        logger.setLevel(logging.NOTSET)
        setattr(logger, _LEVEL_MARK, False)
    conf = get_settings()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    if conf.APPLICATION_LOG_FILE_PATH:
        handlers.append(
            logging.FileHandler(conf.APPLICATION_LOG_FILE_PATH, encoding="utf-8", delay=True)
        )
    if conf.log_in_console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        setattr(handler, _HANDLER_MARK, True)
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
    if handlers and logger.level == logging.NOTSET:
        # The SDK logs its request lines at INFO; without this the root WARNING level hides them.
        logger.setLevel(logging.INFO)
        setattr(logger, _LEVEL_MARK, True)


def zcrm_setting_changed(*, setting: str, **kwargs: Any) -> None:
    """On ``setting_changed`` for ZCRM: forget cached stores and clients, redo logging."""
    if setting != SETTING_NAME:
        return
    persistence.clear_cache()
    oauth.clear_cache()
    configure_logging()
