"""Import the custom token store class a project names in ``ZCRM['PERSISTENCE_HANDLER_CLASS']``.

Kept apart from :mod:`django_zcrm.persistence` (which builds the store) so that settings validation
in :mod:`django_zcrm.conf` can load the class without importing the stores.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from django.utils.module_loading import import_string

from .exceptions import ZCRMConfigurationError

_CLASS_KEY = "ZCRM['PERSISTENCE_HANDLER_CLASS']"
_PATH_KEY = "ZCRM['PERSISTENCE_HANDLER_CLASS_PATH']"

#: The SDK's three-method token store contract; a custom handler needs all of them.
HANDLER_METHODS = ("save_oauth_tokens", "get_oauth_tokens", "delete_oauth_tokens")
NOT_IMPORTABLE = "django_zcrm.E006"
NOT_A_STORE = "django_zcrm.E007"


def load_store_class(name: str, file_path: str = "") -> type | None:
    """Import the class ``name`` (a dotted path, or a class in the .py file ``file_path``).

    None when ``name`` is empty. Raises :class:`ZCRMConfigurationError` whose ``check_id`` is the
    system check reporting the same problem (E006: cannot be loaded, E007: not a token store).
    """
    if not name:
        if file_path:
            raise ZCRMConfigurationError(
                f"{_PATH_KEY} is set but {_CLASS_KEY} is not: set it to the name of the class "
                "defined in that file.",
                check_id=NOT_IMPORTABLE,
            )
        return None
    if file_path:
        cls = _load_from_file(name, file_path)
    else:
        try:
            cls = import_string(name)
        except ImportError as exc:
            raise ZCRMConfigurationError(
                f"{_CLASS_KEY} = {name!r} cannot be imported ({exc}). "
                "Use a dotted path such as 'myproject.tokens.RedisTokenStore', or a class name "
                f"plus {_PATH_KEY} pointing at the .py file.",
                check_id=NOT_IMPORTABLE,
            ) from exc
    if not isinstance(cls, type):
        raise ZCRMConfigurationError(
            f"{_CLASS_KEY} = {name!r} is not a class.",
            check_id=NOT_A_STORE,
        )
    # A TokenPersistence subclass has all three (abstract methods are attributes too).
    missing = [m for m in HANDLER_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ZCRMConfigurationError(
            f"{_CLASS_KEY} = {name!r} is not a token store: it lacks "
            f"{', '.join(missing)}. Subclass django_zcrm.persistence.TokenPersistence.",
            check_id=NOT_A_STORE,
        )
    return cls


def _load_from_file(name: str, file_path: str) -> type:
    path = os.path.abspath(file_path)
    key = _PATH_KEY
    if not os.path.isfile(path):
        raise ZCRMConfigurationError(
            f"{key} = {file_path!r} is not a file: point it at the .py file that defines {name}.",
            check_id=NOT_IMPORTABLE,
        )
    module_name = "django_zcrm_custom_persistence_" + str(abs(hash(path)))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ZCRMConfigurationError(
            f"{key} = {file_path!r} cannot be loaded as a Python module.",
            check_id=NOT_IMPORTABLE,
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # any error in the user's file is a configuration error to report
        sys.modules.pop(module_name, None)
        raise ZCRMConfigurationError(
            f"Loading {key} = {file_path!r} failed: {type(exc).__name__}: {exc}",
            check_id=NOT_IMPORTABLE,
        ) from exc
    try:
        return getattr(module, name.rsplit(".", 1)[-1])
    except AttributeError as exc:
        raise ZCRMConfigurationError(
            f"{file_path!r} defines no class {name!r}: fix {_CLASS_KEY}.",
            check_id=NOT_IMPORTABLE,
        ) from exc
