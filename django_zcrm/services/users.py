"""CRM users: ``/users?type=...`` and ``/users/{id}``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..client import quote_segment
from ..exceptions import ZCRMNotFoundError, ZCRMValidationError
from .base import MAX_PER_PAGE, Service, check_id, first_object

USER_TYPES = (
    "AllUsers",
    "ActiveUsers",
    "DeactiveUsers",
    "ConfirmedUsers",
    "NotConfirmedUsers",
    "DeletedUsers",
    "ActiveConfirmedUsers",
    "AdminUsers",
    "ActiveConfirmedAdmins",
    "CurrentUser",
)


class Users(Service):
    """The organisation's CRM users."""

    def iter_users(
        self,
        type: str = "AllUsers",  # noqa: A002 - Zoho's parameter name
        per_page: int = MAX_PER_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Users of one ``type`` (``AllUsers``, ``ActiveUsers``, ``AdminUsers`` ...), lazily."""
        if type not in USER_TYPES:
            raise ZCRMValidationError(f"type must be one of {', '.join(USER_TYPES)}, not {type!r}.")
        for page in self._iter_pages(
            "users", {"type": type}, key="users", per_page=per_page, record_class=_user
        ):
            yield from page.records

    def list(self, type: str = "AllUsers") -> list[dict[str, Any]]:  # noqa: A002
        """All users of one ``type`` as a list."""
        return list(self.iter_users(type))

    def get(self, user_id: str | int) -> dict[str, Any]:
        """One user by id; :class:`ZCRMNotFoundError` when there is none."""
        user_id = check_id(user_id, "user_id")
        response = self.client.get(f"users/{quote_segment(user_id)}")
        return first_object(response, "users", f"No CRM user with id {user_id}.")

    def current(self) -> dict[str, Any]:
        """The user the tokens belong to (``type=CurrentUser``)."""
        for user in self.iter_users("CurrentUser"):
            return user
        raise ZCRMNotFoundError("Zoho returned no current user.")


def _user(item: dict[str, Any], module: str | None) -> dict[str, Any]:
    return item
