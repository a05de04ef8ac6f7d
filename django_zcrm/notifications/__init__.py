"""Zoho instant notifications: channels, the receiver's inbox and the processor.

``models`` (``NotificationChannel``, ``NotificationEvent``; re-exported by ``django_zcrm.models``),
``secrets`` (verification tokens and their hashes), ``receiver`` (the ``zcrm:notify`` view:
checks a callback and stores it, nothing else), ``processor`` (drains the inbox through the sync's
targets), ``channels`` (enable, renew, status, disable), ``inline`` (process after the response
is sent), ``admin``. The rules are in ``docs/design/notifications.md``.
"""
