"""Deterministic, realistic field values for :meth:`FakeCRM.seed` (no randomness: index-driven).

Values are already in their stored form (valid for the module's metadata), so seeding 100,000
records skips per-field validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from .schema import (
    ACCOUNT_TYPES,
    CHANNELS,
    DEAL_STAGES,
    DEAL_TYPES,
    INDUSTRIES,
    LANGUAGES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    RATINGS,
    TASK_PRIORITIES,
    TASK_STATUSES,
)

__all__ = ["GENERATORS", "Lookups"]

FIRST_NAMES = (
    "Aarav",
    "Amelia",
    "Bruno",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farah",
    "Gustav",
    "Hana",
    "Ibrahim",
    "Jasmine",
    "Kenji",
    "Lena",
    "Mateo",
    "Nadia",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Samuel",
    "Tamara",
    "Umar",
    "Valentina",
    "William",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Anders",
    "Beatriz",
    "Chidi",
    "Dorothée",
    "Søren",
    "Zoë",
    "José",
)
LAST_NAMES = (
    "Anderson",
    "Brennan",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Hoffmann",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Müller",
    "Nakamura",
    "O'Connor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Vasquez",
    "Weber",
    "Xu",
    "Yamamoto",
    "Zimmermann",
    "Novak",
    "Moreau",
    "Lindqvist",
    "Okafor",
)
COMPANY_STEMS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Aperture",
    "Gringotts",
    "Monarch",
    "Nakatomi",
    "Oscorp",
    "Pied Piper",
    "Dunder Mifflin",
    "Massive Dynamic",
)
COMPANY_KINDS = (
    "Logistics",
    "Holdings",
    "Labs",
    "Industries",
    "Foods",
    "Consulting",
    "Systems",
    "Media",
    "Energy",
    "Retail",
)
CITIES = (
    ("Berlin", "Germany"),
    ("Chennai", "India"),
    ("Austin", "United States"),
    ("Lyon", "France"),
    ("Osaka", "Japan"),
    ("Toronto", "Canada"),
    ("Madrid", "Spain"),
    ("Melbourne", "Australia"),
    ("São Paulo", "Brazil"),
    ("Oslo", "Norway"),
)
TITLES = (
    "CEO",
    "CTO",
    "Head of Sales",
    "Procurement Manager",
    "Operations Lead",
    "Marketing Director",
    "IT Manager",
    "Buyer",
    "Founder",
    "Account Executive",
)
DEPARTMENTS = ("Sales", "Finance", "IT", "Operations", "Marketing", "Purchasing")
PRODUCTS = (
    "Annual licence",
    "Support renewal",
    "Pilot project",
    "Hardware refresh",
    "Consulting block",
    "Enterprise upgrade",
)
TASK_SUBJECTS = (
    "Call back",
    "Send proposal",
    "Follow-up email",
    "Prepare demo",
    "Contract review",
    "Collect feedback",
)
NOTE_TITLES = ("Call summary", "Meeting notes", "Pricing discussion", None, "Next steps")


def _pick(options: Sequence[Any], index: int, salt: int = 0) -> Any:
    # A fixed multiplier spreads consecutive indexes over the options without repeating short cycles.
    return options[(index * 7919 + salt * 104729) % len(options)]


def _phone(seq: int) -> str:
    return f"+1 555 {seq % 1000:03d} {seq % 10000:04d}"


class Lookups:
    """Existing records a seeded record may point at (lists of ``{"name","id"}``)."""

    def __init__(self, by_module: dict[str, list[dict[str, Any]]]) -> None:
        self.by_module = by_module

    def pick(self, module: str, index: int) -> dict[str, Any] | None:
        """A lookup value in ``module`` for the index-th seeded record, or None when there are none."""
        options = self.by_module.get(module) or []
        if not options:
            return None
        return dict(options[index % len(options)])


def _person(seq: int, index: int) -> tuple[str, str, str]:
    first = _pick(FIRST_NAMES, index, 1)
    last = _pick(LAST_NAMES, index, 2)
    # Letters such as é or ø stay (an internationalised address), as a person's real one would.
    local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
    return first, last, f"{local}.{seq}@example.com"


def _company(index: int) -> str:
    return f"{_pick(COMPANY_STEMS, index, 3)} {_pick(COMPANY_KINDS, index, 4)}"


def _leads(index: int, seq: int, day: date, lookups: Lookups) -> dict[str, Any]:
    first, last, email = _person(seq, index)
    city, country = _pick(CITIES, index, 5)
    return {
        "Salutation": _pick(("Mr.", "Ms.", "Dr.", None), index, 6),
        "First_Name": first,
        "Last_Name": last,
        "Company": _company(index),
        "Designation": _pick(TITLES, index, 7),
        "Email": email,
        "Phone": _phone(seq),
        "Mobile": _phone(seq + 5000),
        "Lead_Source": _pick(LEAD_SOURCES[1:], index, 8),
        "Lead_Status": _pick(LEAD_STATUSES[1:], index, 9),
        "Industry": _pick(INDUSTRIES[1:], index, 10),
        "No_of_Employees": 5 + (index * 37) % 5000,
        "Annual_Revenue": float(10_000 + (index * 7331) % 5_000_000),
        "Rating": _pick(RATINGS[1:], index, 11),
        "Email_Opt_Out": index % 5 == 0,
        "City": city,
        "Country": country,
        "Preferred_Channels": sorted({_pick(CHANNELS, index, 12), _pick(CHANNELS, index, 13)}),
        "Follow_Up_Date": (day + timedelta(days=index % 30)).isoformat(),
        "Lead_Score_Ratio": round(((index * 13) % 100) / 100, 2),
    }


def _contacts(index: int, seq: int, day: date, lookups: Lookups) -> dict[str, Any]:
    first, last, email = _person(seq, index)
    city, country = _pick(CITIES, index, 14)
    return {
        "Salutation": _pick(("Mr.", "Ms.", "Dr.", None), index, 15),
        "First_Name": first,
        "Last_Name": last,
        "Account_Name": lookups.pick("Accounts", index),
        "Email": email,
        "Title": _pick(TITLES, index, 16),
        "Department": _pick(DEPARTMENTS, index, 17),
        "Phone": _phone(seq),
        "Mobile": _phone(seq + 7000),
        "Date_of_Birth": date(1960 + index % 40, 1 + index % 12, 1 + index % 28).isoformat(),
        "Lead_Source": _pick(LEAD_SOURCES[1:], index, 18),
        "Email_Opt_Out": index % 7 == 0,
        "Mailing_City": city,
        "Mailing_Country": country,
        "Languages": sorted({_pick(LANGUAGES, index, 19), "English"}),
        "Loyalty_Points": (index * 97) % 10_000,
    }


def _accounts(index: int, seq: int, day: date, lookups: Lookups) -> dict[str, Any]:
    city, country = _pick(CITIES, index, 20)
    name = f"{_company(index)} {seq}"
    return {
        "Account_Name": name,
        "Account_Number": 100_000 + seq,
        "Account_Type": _pick(ACCOUNT_TYPES[1:], index, 21),
        "Industry": _pick(INDUSTRIES[1:], index, 22),
        "Annual_Revenue": float(50_000 + (index * 9173) % 50_000_000),
        "Employees": 10 + (index * 53) % 20_000,
        "Rating": _pick(RATINGS[1:], index, 23),
        "Phone": _phone(seq),
        "Website": f"https://www.{name.split()[0].lower()}{seq}.example.com",
        "Billing_City": city,
        "Billing_Country": country,
        "Customer_Since": (day - timedelta(days=30 + index % 2000)).isoformat(),
        "Is_Key_Account": index % 10 == 0,
    }


def _deals(index: int, seq: int, day: date, lookups: Lookups) -> dict[str, Any]:
    account = lookups.pick("Accounts", index)
    stage = _pick(DEAL_STAGES, index, 24)
    base = account["name"] if account else _company(index)
    return {
        "Deal_Name": f"{base} - {_pick(PRODUCTS, index, 25)} #{seq}",
        "Amount": float(1_000 + (index * 4217) % 250_000),
        "Closing_Date": (day + timedelta(days=7 + index % 120)).isoformat(),
        "Stage": stage,
        "Probability": 100
        if stage == "Closed Won"
        else 0
        if stage.startswith("Closed Lost")
        else 10 + index % 80,
        "Account_Name": account,
        "Contact_Name": lookups.pick("Contacts", index),
        "Type": _pick(DEAL_TYPES[1:], index, 26),
        "Lead_Source": _pick(LEAD_SOURCES[1:], index, 27),
        "Next_Step": _pick(("Send quote", "Schedule demo", "Negotiate terms", None), index, 28),
        "Competitors": sorted({_pick(("Acme", "Globex", "Initech", "Umbrella"), index, 29)}),
    }


def _tasks(index: int, seq: int, day: date, lookups: Lookups) -> dict[str, Any]:
    return {
        "Subject": f"{_pick(TASK_SUBJECTS, index, 30)} #{seq}",
        "Due_Date": (day + timedelta(days=index % 14)).isoformat(),
        "Status": _pick(TASK_STATUSES, index, 31),
        "Priority": _pick(TASK_PRIORITIES, index, 32),
        "Who_Id": lookups.pick("Contacts", index),
        "What_Id": lookups.pick("Deals", index),
        "Send_Notification_Email": False,
    }


def _notes(index: int, seq: int, day: date, lookups: Lookups) -> dict[str, Any]:
    return {
        "Note_Title": _pick(NOTE_TITLES, index, 33),
        "Note_Content": f"Spoke about {_pick(PRODUCTS, index, 34).lower()}; follow up in {1 + index % 9} days.",
    }


GENERATORS: dict[str, Callable[[int, int, date, Lookups], dict[str, Any]]] = {
    "Leads": _leads,
    "Contacts": _contacts,
    "Accounts": _accounts,
    "Deals": _deals,
    "Tasks": _tasks,
    "Notes": _notes,
}
