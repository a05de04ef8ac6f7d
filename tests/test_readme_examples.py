"""The README's examples are real: they run against the fake Zoho server, and every command
option, setting, link and image the README names exists.

Code blocks meant to run are marked in README.md with an HTML comment on the line before the
fence, ``<!-- readme-example: KIND -->``:

* ``services``: the CRM services examples, run in order in one namespace (like a session), once
  on API v2 and once on v8;
* ``sync-commands`` (bash), ``sync-settings`` and ``sync`` (python): the sync section, run in
  order; each ``python manage.py zcrm_*`` line goes through ``call_command``;
* ``celery`` and ``django-tasks``: task modules, imported from a file and run (skipped where
  Celery, or Django 6's ``django.tasks``, is not installed);
* ``fake-server``: the example test of the fake server section, called as pytest would.

The README speaks of the project's own app ``crm`` (``crm.Lead``, as in the sample project);
here that is ``tests.testapp``, whose ``Lead`` is the same ``zcrm_inspect Leads`` output.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import shlex
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand

from django_zcrm.conf import DEFAULTS
from django_zcrm.models import CRMRecord
from django_zcrm.oauth import get_oauth_client

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SALES = "sales@example.com"

MARK_RE = re.compile(r"^<!--\s*readme-example:\s*([\w-]+)\s*-->\s*$")
FENCE_RE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    kind: str
    lang: str
    code: str
    line: int  # 1-based line of the opening fence

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.kind})"


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def fenced_blocks(text: str) -> list[tuple[str, str, int, str | None]]:
    """Every fenced block: (lang, code, fence line, the readme-example kind marked before it)."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = FENCE_RE.match(lines[i])
        if not match:
            i += 1
            continue
        lang, start = match.group(1), i
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        previous = lines[start - 1] if start else ""
        mark = MARK_RE.match(previous)
        blocks.append(
            (
                lang,
                "\n".join(lines[start + 1 : end]) + "\n",
                start + 1,
                mark.group(1) if mark else None,
            )
        )
        i = end + 1
    return blocks


def examples(*kinds: str) -> list[Block]:
    found = [
        Block(kind, lang, code, line)
        for lang, code, line, kind in fenced_blocks(readme_text())
        if kind in kinds
    ]
    assert found, f"README.md has no block marked readme-example: {', '.join(kinds)}"
    return found


def as_test_app(code: str) -> str:
    """The README's app ``crm`` is the test app here."""
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


def manage_commands(block: Block) -> list[list[str]]:
    """``python manage.py ...`` invocations of a bash block, split into argument lists."""
    found = []
    for raw in block.code.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words[:2] != ["python", "manage.py"]:
                raise AssertionError(f"{block}: not a manage.py command: {part.strip()!r}")
            args = []
            for word in words[2:]:
                if word in (">", ">>", "&") or word.startswith(("2>", ">")):
                    break  # redirections and backgrounding end the arguments
                args.append(word)
            found.append(args)
    return found


def run_manage(block: Block, args: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    args = [as_test_app(a) for a in args]
    try:
        call_command(*args, stdout=out, stderr=err)
    except Exception as exc:
        raise AssertionError(
            f"{block}: `manage.py {' '.join(args)}` failed: {exc}\n{out.getvalue()}{err.getvalue()}"
        ) from exc
    return out.getvalue()


def store_tokens_for(fake, email: str) -> None:
    fake.accounts.add_user(email, "Sam", "Sales")
    get_oauth_client().generate_access_token(
        fake.accounts.issue_grant_token(user_email=email), email
    )


# -- the services section --------------------------------------------------------------------------

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

#: Outputs the README shows in comments, which the examples must really print.
SERVICE_OUTPUTS = [
    "create Leads: 2 records, 1 succeeded, 1 failed in 1 request",
    "#1 failed: MANDATORY_NOT_FOUND on Last_Name (required field not found)",
    "['updated', 'created']",
    "delete Leads: 1 record, 1 succeeded, 0 failed in 1 request",
    "{'succeeded': 250, 'failed': 0, 'unknown': 0, 'not_attempted': 0}",
]


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v2", "v8"])
def test_services_examples_run_against_the_fake_server(
    fake_zoho, zoho_tokens, settings, version, tmp_path, monkeypatch, capsys
):
    settings.ZCRM = {**settings.ZCRM, "API_VERSION": version}
    fake_zoho.crm.seed("Leads", 2500)  # more than page numbers reach: page_token is needed
    fake_zoho.crm.seed("Accounts", 3)
    fake_zoho.crm.seed("Contacts", 6)
    store_tokens_for(fake_zoho, SALES)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quote.pdf").write_bytes(b"%PDF-1.4 a quote \x00\xff")
    fake_zoho.reset_counters()
    namespace: dict = {"__name__": "readme_services"}

    for block in examples("services"):
        assert block.lang == "python", f"{block} is not a python block"
        run_python(block, namespace)

    printed = capsys.readouterr().out
    readme = readme_text()
    for line in SERVICE_OUTPUTS:
        assert line in readme, f"the README no longer shows {line!r}: update SERVICE_OUTPUTS"
        assert line in printed, f"the README says the examples print {line!r}; they did not"
    unused = [e for e in SERVICE_ENDPOINTS if fake_zoho.count(endpoint=e) == 0]
    assert not unused, f"operations the README documents but its examples never called: {unused}"
    listed = [
        r
        for r in fake_zoho.requests
        if r.endpoint == "GET /crm/{version}/{module}" and r.path == f"/crm/{version}/Leads"
    ]
    assert any("page_token" in r.query for r in listed), "the listing never paged past 2,000"
    assert {r.path.split("/")[2] for r in fake_zoho.requests if r.path.startswith("/crm/")} == {
        version
    }
    assert all(r.status < 500 for r in fake_zoho.requests)
    # What the examples claim, checked on the server's side.
    smith = fake_zoho.crm.get_record("Leads", namespace["lead_id"])
    assert (smith["Email"], smith["City"], smith["Lead_Status"]) == (
        "smith@example.com",
        "Lyon",
        "Contacted",
    )
    assert {t["name"] for t in smith["Tag"]} == {"vip"}
    assert fake_zoho.crm.get_record("Leads", namespace["jones_id"]) is None
    assert namespace["attachment"].content == b"%PDF-1.4 a quote \x00\xff"
    assert namespace["lead"] is None  # the unknown id of the error example
    assert [r.id for r in namespace["by_email"]] == [namespace["lead_id"]]
    assert [r.id for r in namespace["by_phone"]] == [namespace["lead_id"]]
    assert len(namespace["found"]) == 251  # Smith and the 250 imported ACME leads, via COQL
    assert namespace["me"]["email"] == settings.ZCRM["CURRENT_USER_EMAIL"]
    acting_as = set()
    for request in fake_zoho.requests:
        token = request.headers.get("Authorization", "").rpartition(" ")[2]
        info = fake_zoho.accounts.lookup_access_token(token) if token else None
        if info is not None:
            acting_as.add(info.user_email)
    assert SALES in acting_as, "the 'another Zoho user' example did not act as that user"


# -- the sync section ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sync_examples_run_against_the_fake_server(fake_zoho, zoho_tokens, settings, capsys):
    from tests.testapp.models import Lead

    fake_zoho.crm.seed("Leads", 300)
    fake_zoho.crm.seed("Contacts", 40)
    fake_zoho.crm.seed("Deals", 20)
    store_tokens_for(fake_zoho, SALES)
    namespace: dict = {"__name__": "readme_sync"}
    runs: list[tuple[str, str]] = []  # (command line, its output)

    def output_of(command_line: str) -> str:
        found = [out for line, out in runs if line == command_line]
        assert found, (
            f"the README no longer runs `{command_line}`; ran {[line for line, _ in runs]}"
        )
        return found[0]

    for block in examples("sync-commands", "sync-settings", "sync"):
        if block.kind == "sync-commands":
            assert block.lang == "bash", f"{block} is not a bash block"
            for args in manage_commands(block):
                if not args[0].startswith("zcrm_"):
                    continue  # makemigrations / migrate: the test database is migrated already
                runs.append((" ".join(args), run_manage(block, args)))
        elif block.kind == "sync-settings":
            namespace["ZCRM"] = dict(settings.ZCRM)
            run_python(block, namespace)
            settings.ZCRM = {
                **namespace["ZCRM"],
                "SYNC_MODELS": {
                    module: as_test_app(label)
                    for module, label in namespace["ZCRM"]["SYNC_MODELS"].items()
                },
            }
        else:
            run_python(block, namespace)

    printed = capsys.readouterr().out
    zero_code = output_of("zcrm_sync Leads Contacts")
    assert zero_code.startswith("Leads -> django_zcrm.crmrecord: 300 created")
    assert "Contacts -> django_zcrm.crmrecord: 40 created" in zero_code
    models_code = output_of("zcrm_inspect Leads")
    assert "class Lead(ZohoSyncedModel):" in models_code
    compile(models_code, "<zcrm_inspect>", "exec")
    assert output_of("zcrm_sync").startswith("Leads -> testapp.lead: 300 created")
    assert output_of("zcrm_sync Leads --dry-run").startswith("[dry run] Leads -> testapp.lead: ")
    assert CRMRecord.objects.filter(module="Deals").count() == 20
    assert "2 local changes, 1 created, 1 updated, 0 failed, 1 API calls" in printed
    doe = Lead.objects.get(email="doe@example.com")
    assert doe.zoho_id and not doe.zoho_dirty
    assert fake_zoho.crm.get_record("Leads", doe.zoho_id)["Last_Name"] == "Doe"
    assert fake_zoho.crm.get_record("Leads", namespace["lead"].zoho_id)["City"] == "Lyon"
    assert namespace["result"] is not None and namespace["result"].failed == 0
    assert [r.module for r in namespace["results"]] == ["Leads", "Contacts"]
    assert not Lead.objects.filter(zoho_dirty=True).exists()


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


@pytest.mark.django_db
def test_celery_example_runs_the_sync(fake_zoho, zoho_tokens, tmp_path):
    pytest.importorskip("celery", reason="Celery is not installed")
    from django_zcrm.sync import lease as sync_lease

    fake_zoho.crm.seed("Leads", 30)
    (block,) = examples("celery")
    tasks = _import_example(block, tmp_path, "readme_celery_tasks")

    done = tasks.sync_zoho.apply(args=["Leads"]).get()
    lease = sync_lease.acquire("Leads", "django_zcrm.crmrecord")
    try:
        skipped = tasks.sync_zoho.apply(args=["Leads"]).get()
    finally:
        lease.release()

    assert done["module"] == "Leads" and done["created"] == 30
    assert skipped == {"module": "Leads", "skipped": True}


@pytest.mark.django_db
def test_django_tasks_example_runs_the_sync_and_the_push(
    fake_zoho, zoho_tokens, settings, tmp_path
):
    pytest.importorskip("django.tasks", reason="django.tasks needs Django 6")
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    fake_zoho.crm.seed("Leads", 25)
    fake_zoho.crm.seed("Contacts", 5)
    (block,) = examples("django-tasks")

    tasks = _import_example(block, tmp_path, "readme_django_tasks")

    result = tasks.result  # enqueued by the example itself; the immediate backend ran it
    assert result.status == "SUCCESSFUL", [e.traceback for e in result.errors]
    pulled = result.return_value["pulled"]
    assert [(r["module"], r["created"]) for r in pulled] == [("Leads", 25), ("Contacts", 5)]
    assert result.return_value["pushed"].startswith("testapp.lead -> Leads: 0 local changes")


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
    for lang, code, line, kind in fenced_blocks(readme_text()):
        if lang != "python" or kind is not None or "{...," in code:
            continue  # run by the tests above, or a settings fragment with "..." in it
        compile(textwrap.dedent(code), f"README.md line {line}", "exec")
