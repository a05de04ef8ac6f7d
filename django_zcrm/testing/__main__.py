"""``python -m django_zcrm.testing --port 8765``: the fake Zoho server without Django."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
