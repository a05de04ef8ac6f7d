"""Send local changes of a typed model back to Zoho (upsert, 100 records per call)."""

from __future__ import annotations

from django.core.management.base import CommandError

from ...conf import get_settings
from ...sync import pending, push_model
from ...sync.targets import installed_model
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = (
        "Upsert the rows of a typed model that changed locally (zoho_dirty) to Zoho, 100 per "
        "call, and record on each row its Zoho id or the error Zoho gave. Rows that were not "
        "accepted stay marked and are sent again by the next run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "target",
            metavar="MODULE",
            help="A module of ZCRM['SYNC_MODELS'] (Leads) or a model label (crm.Lead).",
        )
        parser.add_argument(
            "--user",
            metavar="EMAIL",
            help="The Zoho user whose tokens are used (default: CURRENT_USER_EMAIL).",
        )
        parser.add_argument("--limit", type=int, metavar="N", help="Send at most N rows.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the rows that would be sent."
        )

    def run(self, *args, **options):
        target = options["target"]
        configured = get_settings().SYNC_MODELS or {}
        module = None
        if target in configured:
            module, label = target, configured[target]
            source = f"ZCRM['SYNC_MODELS'][{target!r}]"
        elif "." in target:
            label, source = target, "The MODULE argument"
        else:
            raise CommandError(
                f"{target!r} is neither a module of ZCRM['SYNC_MODELS'] "
                f"({', '.join(configured) or 'empty'}) nor a model label."
            )
        model = installed_model(label, source)
        if options["dry_run"]:
            count = pending(model).count()
            self.stdout.write(
                f"{model._meta.label_lower}: {count} rows with local changes would be sent."
            )
            return
        result = push_model(model, module=module, user=options["user"], limit=options["limit"])
        style = self.style.SUCCESS if result.ok else self.style.WARNING
        if options["verbosity"] >= 1:
            self.stdout.write(style(result.summary()))
            for pk, reason in result.errors:
                self.stdout.write(f"    pk={pk}: {reason}")
        if result.error is not None:
            raise CommandError(
                f"The push stopped early: {result.error}. Rows not sent stay "
                "marked; run zcrm_push again later."
            )
        if not result.ok:
            raise CommandError(
                f"{result.total - result.succeeded} of {result.total} rows were not "
                "accepted; see zoho_push_error on those rows."
            )
