"""The README is real: followed as written in a brand-new project it works, twice, and every
command option, setting, link and image it names exists.

How README blocks are run
-------------------------
A block meant to run is marked with an HTML comment on the line before its fence,
``<!-- readme-example: KIND -->``. The kinds that need a project are run by
:class:`tests.support.readme.Follower`, in README order, in a project made the way
"Use it in your own project" says (``django-admin startproject mysite`` in a temporary folder, the
app importable from this checkout), against a fake Zoho server on loopback:

* ``setup`` (bash): creating the project; ``pip install``/venv lines are the test's job.
* ``file`` / ``append``: a file written whole / lines added at its end; the block's first line
  names the file (``# mysite/settings.py, at the end``).
* ``fake-server-command`` (bash): the ``zcrm_fake_server`` line; its ``--seed`` values seed the fake.
* ``commands`` (bash): each line run in bash in the project folder.
* ``shell`` (python): pasted line by line into a fresh ``python manage.py shell`` (the console
  Django opens without IPython), so it must stand alone: its own imports, a blank line after a
  loop or ``with`` before the next statement, and nothing left from an earlier block. It must also
  work when pasted again (unique e-mails per run, or upsert).

The whole README runs once on API v2; then every ``shell`` block runs again, in order, on v8.
The README's fake port 8765 becomes a free port. To add a section whose blocks run, just mark
them with these kinds: nothing here needs to change, and a block that fails names its README line.

Kinds run in this process instead: ``fake-server`` (the example test, called as pytest would);
the Celery section's kinds (``celery-app``, ``celery-dispatch``...) run in tests/test_celery_docs.py. A section may also bring its own kind, run by its own test file through
``tests.support.readme.examples("KIND")``; prefer ``shell``/``commands``, which need no code.
Any unmarked python block must at least compile.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import BaseCommand

from django_zcrm.conf import DEFAULTS
from django_zcrm.testing import FakeZoho
from django_zcrm.testing.cli import parse_seed
from tests.support.readme import (
    PROJECT_KINDS,
    ROOT,
    Block,
    Follower,
    examples,
    free_port,
    readme_blocks,
    readme_text,
)

SALES = "sales@example.com"


def as_test_app(code: str) -> str:
    """The README's app ``crm`` is the test app in this process."""
    return (
        code.replace("from crm.models import", "from tests.testapp.models import")
        .replace('"crm.Lead"', '"testapp.Lead"')
        .replace("crm.Lead", "testapp.Lead")
    )


def run_python(block: Block, namespace: dict) -> None:
    try:
        exec(compile(as_test_app(block.code), str(block), "exec"), namespace)  # noqa: S102
    except Exception as exc:
        raise AssertionError(f"{block} failed: {type(exc).__name__}: {exc}\n{block.code}") from exc


# -- the whole README, followed in a new project ---------------------------------------------------

#: Every operation the services section documents, as the fake server names its endpoints.
SERVICE_ENDPOINTS = [
    "GET /crm/{version}/{module}",
    "GET /crm/{version}/{module}/{id}",
    "POST /crm/{version}/{module}",
    "PUT /crm/{version}/{module}",
    "POST /crm/{version}/{module}/upsert",
    "DELETE /crm/{version}/{module}",
    "GET /crm/{version}/{module}/search",
    "POST /crm/{version}/coql",
    "GET /crm/{version}/{module}/deleted",
    "GET /crm/{version}/settings/fields",
    "GET /crm/{version}/settings/layouts",
    "GET /crm/{version}/settings/related_lists",
    "GET /crm/{version}/settings/custom_views",
    "GET /crm/{version}/{module}/{id}/{related_list}",
    "PUT /crm/{version}/{module}/{id}/{related_list}/{related_id}",
    "DELETE /crm/{version}/{module}/{id}/{related_list}/{related_id}",
    "GET /crm/{version}/{module}/{id}/Notes",
    "GET /crm/{version}/{module}/{id}/Attachments",
    "POST /crm/{version}/{module}/{id}/Attachments",
    "GET /crm/{version}/{module}/{id}/Attachments/{attachment_id}",
    "DELETE /crm/{version}/{module}/{id}/Attachments/{attachment_id}",
    "POST /crm/{version}/{module}/actions/add_tags",
    "POST /crm/{version}/{module}/actions/remove_tags",
    "GET /crm/{version}/settings/tags",
    "GET /crm/{version}/users",
    "GET /crm/{version}/org",
    "GET /crm/{version}/settings/modules",
    "GET /crm/{version}/settings/modules/{module}",
]

#: Outputs the README shows in comments, which its examples must really print (on every pass).
SERVICE_OUTPUTS = [
    "create Leads: 2 records, 1 succeeded, 1 failed in 1 request",
    "#1 failed: MANDATORY_NOT_FOUND on Last_Name (required field not found)",
    "delete Leads: 1 record, 1 succeeded, 0 failed in 1 request",
    "{'succeeded': 250, 'failed': 0, 'unknown': 0, 'not_attempted': 0}",
]
#: ... and what only the first / a later paste prints.
FIRST_PASS_OUTPUTS = ["['created', 'created']"]
LATER_PASS_OUTPUTS = ["['updated', 'created']"]


class InProcessFake:
    """The README's fake, in this process so the test can read its counters."""

    def __init__(self, fake: FakeZoho) -> None:
        self.fake, self.started = fake, 0

    def __call__(self, args: list[str], cwd: Path) -> None:
        assert "--state-file" in args, "the README starts the fake without --state-file"
        self.started += 1
        if self.started > 1:
            return  # already running, as a person leaves it
        for i, word in enumerate(args):
            if word == "--seed":
                module, count = parse_seed(args[i + 1])
                self.fake.crm.seed(module, count)


def _acting_users(fake: FakeZoho) -> set[str]:
    users = set()
    for request in fake.requests:
        token = request.headers.get("Authorization", "").rpartition(" ")[2]
        info = fake.accounts.lookup_access_token(token) if token else None
        if info is not None:
            users.add(info.user_email)
    return users


def _check_services_side(fake: FakeZoho, version: str) -> None:
    unused = [e for e in SERVICE_ENDPOINTS if fake.count(endpoint=e) == 0]
    assert not unused, f"operations the README documents but its examples never called: {unused}"
    listed = [
        r
        for r in fake.requests
        if r.endpoint == "GET /crm/{version}/{module}" and r.path == f"/crm/{version}/Leads"
    ]
    assert any("page_token" in r.query for r in listed), "the listing never paged past 2,000"
    assert {r.path.split("/")[2] for r in fake.requests if r.path.startswith("/crm/")} == {version}
    assert all(r.status < 500 for r in fake.requests)
    assert SALES in _acting_users(fake), "the 'another Zoho user' example did not act as that user"
    leads = fake.crm.records("Leads")
    (smith,) = [r for r in leads if r.get("Email") == "smith@example.com"]
    assert (smith["City"], smith["Lead_Status"]) == ("Lyon", "Contacted")
    assert {t["name"] for t in smith["Tag"]} == {"vip"}
    assert not [r for r in leads if r.get("Email") == "jones@example.com"]


def _printed(follower: Follower, since: int) -> str:
    return "\n".join(r.output for r in follower.ran[since:])


@pytest.mark.slow
@pytest.mark.once  # its own project on its own SQLite database
def test_the_readme_runs_as_written_in_a_new_project_twice(tmp_path: Path) -> None:
    port = free_port()
    blocks = [b for b in readme_blocks() if b.kind in PROJECT_KINDS]
    shells = [b for b in blocks if b.kind == "shell"]
    assert len(shells) >= 20 and {b.section for b in shells} >= {
        "Use it in your own project",
        "CRM services API",
        "Syncing CRM modules into Django models",
    }
    with FakeZoho(port=port) as fake:
        starter = InProcessFake(fake)
        follower = Follower(tmp_path, port, starter)
        for block in blocks:
            follower.run(block)
        assert starter.started == 1

        first = _printed(follower, 0)
        _check_services_side(fake, "v2")
        for line in SERVICE_OUTPUTS + FIRST_PASS_OUTPUTS:
            assert line in readme_text(), f"the README no longer shows {line!r}"
            assert line in first, f"the README says its examples print {line!r}; they did not"
        assert "admin@example.com" in first
        zero_code = follower.output_of("python manage.py zcrm_sync Leads Contacts")
        assert zero_code.startswith("Leads -> django_zcrm.crmrecord: ")
        assert "Contacts -> django_zcrm.crmrecord: " in zero_code
        models_code = (follower.cwd / "crm" / "models.py").read_text(encoding="utf-8")
        assert "class Lead(ZohoSyncedModel):" in models_code and "def __str__" in models_code
        typed = follower.output_of("python manage.py zcrm_sync")
        assert re.match(r"Leads -> crm\.lead: [1-9]\d* created, 0 updated", typed), typed
        assert typed.count("DEBUG is True") == 1  # startproject's settings have DEBUG on
        assert "Leads now syncs into crm.lead" in typed  # the old CRMRecord rows are stale
        dry = follower.output_of("python manage.py zcrm_sync Leads --dry-run")
        assert dry.startswith("[dry run] Leads -> crm.lead: ")
        assert "2 local changes, 1 created, 1 updated, 0 failed, 1 API calls" in first
        (doe,) = [r for r in fake.crm.records("Leads") if r.get("Email") == "doe@example.com"]
        assert doe["Last_Name"] == "Doe"

        # Pasted again, on another API version: every shell block still works.
        fake.reset_counters()
        follower.extra_env["ZCRM_API_VERSION"] = "v8"
        again = len(follower.ran)
        for block in shells:
            follower.shell(block)
        later = _printed(follower, again)
        _check_services_side(fake, "v8")
        for line in SERVICE_OUTPUTS + LATER_PASS_OUTPUTS:
            assert line in readme_text(), f"the README no longer shows {line!r}"
            assert line in later, f"pasted again, the examples did not print {line!r}"


# -- kinds run in this process ---------------------------------------------------------------------


@pytest.mark.django_db
def test_fake_server_example_passes(settings):
    (block,) = examples("fake-server")
    namespace: dict = {"__name__": "readme_fake_server"}
    run_python(block, namespace)

    namespace["test_my_integration"](settings, None)  # its fixtures: pytest-django's settings, db


def _import_example(block: Block, tmp_path: Path, name: str):
    (tmp_path / f"{name}.py").write_text(as_test_app(block.code), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


#: Kinds this file used to run, and what replaced them: a block still marked so would not run.
RETIRED_KINDS = {
    "celery": "celery-app",
    "django-tasks": "django-tasks-entry-points",
    "services": "shell",
    "sync": "shell",
    "sync-commands": "commands",
    "sync-settings": "append",
}


def test_every_marked_block_is_of_a_kind_something_runs():
    here = {"fake-server"}
    tests_text = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py")
    )
    for block in readme_blocks():
        if block.kind is None or block.kind in PROJECT_KINDS | here:
            continue
        assert block.kind not in RETIRED_KINDS, (
            f"{block}: kind {block.kind!r} is no longer run; mark it "
            f"{RETIRED_KINDS[block.kind]!r} (see this file's docstring)"
        )
        # A section's own kind, run by its own test file (e.g. examples("notifications")).
        assert f'"{block.kind}"' in tests_text, f"{block}: no test runs kind {block.kind!r}"
    for block in readme_blocks():
        if block.kind == "shell":
            assert block.lang == "python", f"{block} is not a python block"
        if block.kind in ("commands", "setup", "fake-server-command"):
            assert block.lang == "bash", f"{block} is not a bash block"


# -- names the README uses ---------------------------------------------------------------------------


def _options_of(name: str) -> set[str]:
    command = load_command_class(get_commands()[name], name)
    parser = command.create_parser("manage.py", name)
    return {opt for action in parser._actions for opt in action.option_strings}


def _default_options() -> set[str]:
    parser = BaseCommand().create_parser("manage.py", "base")
    return {opt for action in parser._actions for opt in action.option_strings}


OUR_COMMANDS = sorted(
    p.stem for p in (ROOT / "django_zcrm" / "management" / "commands").glob("zcrm_*.py")
)
COMMAND_RE = re.compile(r"(?<![\w/.-])zcrm_[a-z_]+\b")  # not in a URL or file name
OPTION_RE = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
NOT_COMMANDS = {"zcrm_oauthtokens"}  # zcrm_oauthtokens.txt, the token file


def test_every_command_the_readme_names_exists_and_every_command_is_in_its_table():
    text = readme_text()
    named = set(COMMAND_RE.findall(text)) - NOT_COMMANDS
    assert named <= set(OUR_COMMANDS), (
        f"the README names unknown commands: {named - set(OUR_COMMANDS)}"
    )
    section = text.split("## Management commands", 1)[1].split("\n## ", 1)[0]
    in_table = {m.group(1) for m in re.finditer(r"^\| `(zcrm_[a-z_]+)", section, re.MULTILINE)}
    assert in_table == set(OUR_COMMANDS), (
        f"missing from the commands table: {set(OUR_COMMANDS) - in_table}"
    )


def test_every_option_the_readme_gives_a_command_exists_in_its_parser():
    checked, problems = 0, []
    for number, line in enumerate(readme_text().splitlines(), 1):
        spots = [m for m in COMMAND_RE.finditer(line) if m.group(0) not in NOT_COMMANDS]
        for i, match in enumerate(spots):
            end = spots[i + 1].start() if i + 1 < len(spots) else len(line)
            options = set(OPTION_RE.findall(line[match.end() : end]))
            unknown = options - _options_of(match.group(0))
            checked += len(options)
            problems += [
                f"line {number}: {match.group(0)} has no option {o}" for o in sorted(unknown)
            ]
    assert not problems, "\n".join(problems)
    assert checked >= 20  # the check really looked at the command lines


def test_the_zcrm_sync_options_table_lists_exactly_the_parsers_options():
    text = readme_text()
    marker = "<!-- readme-options: zcrm_sync -->"
    assert marker in text
    table = text.split(marker, 1)[1].strip().split("\n\n", 1)[0]
    documented = {m.group(1) for m in re.finditer(r"^\| `(--[a-z-]+)", table, re.MULTILINE)}
    own = _options_of("zcrm_sync") - _default_options()
    # argparse gives every option its long form; -h etc. belong to Django.
    assert documented == {o for o in own if o.startswith("--")}


def test_the_settings_table_lists_exactly_the_keys_of_conf_defaults_with_their_defaults():
    text = readme_text()
    marker = "<!-- readme-settings -->"
    assert marker in text
    table = text.split(marker, 1)[1].strip().split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| .+\|$", table, re.MULTILINE)
    keys = [key for key, _ in rows]
    assert len(keys) == len(set(keys)), "a key is listed twice"
    assert set(keys) == set(DEFAULTS), (
        f"missing: {sorted(set(DEFAULTS) - set(keys))}, "
        f"unknown: {sorted(set(keys) - set(DEFAULTS))}"
    )
    for key, default in rows:
        literal = default.strip()
        if literal.startswith("`") and literal.endswith("`") and literal.count("`") == 2:
            assert ast.literal_eval(literal.strip("`")) == DEFAULTS[key], (
                f"{key}: default {literal}"
            )


def test_every_zcrm_key_the_readme_names_is_a_setting():
    named = set(re.findall(r"""ZCRM\[['"]([A-Z_]+)['"]\]""", readme_text()))
    assert named, "no ZCRM['KEY'] found"
    assert named <= set(DEFAULTS), f"not settings: {sorted(named - set(DEFAULTS))}"


def _slug(heading: str) -> str:
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_links_anchors_and_screenshots_resolve():
    text = readme_text()
    outside_code = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    anchors = {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", outside_code, re.MULTILINE)}
    links = re.findall(r"\]\(([^)\s]+)\)", outside_code)
    assert links
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        if link.startswith("#"):
            assert link[1:] in anchors, f"no heading for the link {link}"
            continue
        path = link.split("#", 1)[0]
        assert (ROOT / path).exists(), f"the README links to {path}, which does not exist"
    shots = set(re.findall(r"!\[[^\]]*\]\((docs/screenshots/[^)]+)\)", text))
    on_disk = {f"docs/screenshots/{p.name}" for p in (ROOT / "docs" / "screenshots").glob("*.png")}
    assert shots == on_disk, (
        f"not shown: {sorted(on_disk - shots)}, missing: {sorted(shots - on_disk)}"
    )


def test_every_other_python_block_at_least_compiles():
    for block in readme_blocks():
        if block.lang != "python" or block.kind is not None or "{...," in block.code:
            continue  # run by the tests above, or a settings fragment with "..." in it
        compile(textwrap.dedent(block.code), str(block), "exec")


def test_the_paste_driver_fails_on_what_a_console_paste_would_fail(tmp_path: Path) -> None:
    follower = Follower(tmp_path, free_port(), start_fake=lambda args, cwd: None)
    follower.cwd = ROOT  # the sample project's manage.py: any project does
    ok = Block("shell", "python", "for n in range(2):\n    print(n)\n\nprint('done')\n", 1, "", "")
    assert "done" in follower.shell(ok)
    no_blank_line = Block(
        "shell", "python", "for n in range(2):\n    print(n)\nprint('x')\n", 2, "", ""
    )
    with pytest.raises(AssertionError, match="SyntaxError"):
        follower.shell(no_blank_line)
    stale_name = Block("shell", "python", "print(lead_id)\nprint('not reached')\n", 3, "", "")
    with pytest.raises(AssertionError, match="NameError") as failed:
        follower.shell(stale_name)
    assert "not reached\n" not in str(failed.value).split("--- the block ---")[0]
