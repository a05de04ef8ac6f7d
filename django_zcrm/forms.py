"""The admin's "Paste grant token" form."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

#: How long a grant token lives, said the same way on the paste page, in its help text and in
#: ``ZCRMInvalidGrantError``'s message (Zoho's Self Client offers 3 to 10 minutes, 3 by default).
GRANT_TOKEN_LIFETIME = _(
    "it works once, for the time duration chosen when generating it (3 minutes by default, at most 10)."
)


class GrantTokenForm(forms.Form):
    """A grant token (never rendered back) and an optional e-mail to store the tokens under."""

    grant_token = forms.CharField(
        label=_("Grant token"),
        max_length=512,
        strip=True,
        # render_value=False: a re-displayed form (after an error) never contains the code.
        widget=forms.PasswordInput(
            render_value=False,
            attrs={"autocomplete": "off", "spellcheck": "false", "autofocus": True, "size": 60},
        ),
        help_text=_(
            "The code Zoho shows under Self Client > Generate Code: it works once, for the time "
            "duration chosen when generating it (3 minutes by default, at most 10)."
        ),
    )
    user_email = forms.EmailField(
        label=_("Zoho user e-mail"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "size": 40}),
        help_text=_(
            "Optional. The tokens are stored under this e-mail; leave it empty to use "
            "ZCRM['CURRENT_USER_EMAIL'], or when that is unset, the e-mail Zoho reports "
            "for the token."
        ),
    )
