"""Django ``Signal`` objects django_zcrm sends (receivers of Django's own signals: ``receivers``).

``tokens_refreshed``: sent after a new access token was minted and stored, with
``user_identifier`` (the Zoho user) and ``expiry_time`` (epoch ms). Never carries a token.

``zoho_records_changed`` / ``zoho_records_deleted``: sent by the notification processor after
the transaction that wrote the rows commits (``docs/design/notifications.md``).
"""

from __future__ import annotations

from django.dispatch import Signal

tokens_refreshed = Signal()

#: Sent after commit when the notification processor stored records: ``module`` (Zoho API
#: name), ``ids`` (list of Zoho ids) and ``operation`` ("insert" for rows created locally,
#: "update" for rows changed).
zoho_records_changed = Signal()

#: Sent after commit when the notification processor marked (or removed) rows deleted in Zoho:
#: ``module`` and ``ids``.
zoho_records_deleted = Signal()
