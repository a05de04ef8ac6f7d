"""Django ``Signal`` objects django_zcrm sends (receivers of Django's own signals: ``receivers``).

``tokens_refreshed``: sent after a new access token was minted and stored, with
``user_identifier`` (the Zoho user) and ``expiry_time`` (epoch ms). Never carries a token.
"""

from __future__ import annotations

from django.dispatch import Signal

tokens_refreshed = Signal()
