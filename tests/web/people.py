"""Signing in as the sample district's demo people (sample_data/users.csv) through the shared dialog."""

from __future__ import annotations

import csv
from pathlib import Path

USERS = Path(__file__).resolve().parents[2] / "sample_data" / "users.csv"


def demo(role: str) -> tuple[str, str]:
    """The demo user of ``role`` and its documented password."""
    with USERS.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["username"] == f"demo-{role}":
                return row["username"], row["password"]
    raise AssertionError(f"no demo user with role {role}")


def sign_in(page, role: str) -> None:
    """Fill the shared sign-in dialog (web/js/signin.js) as the demo user of ``role``."""
    username, password = demo(role)
    page.wait_for_selector("#signin[open]")
    page.fill("#signin-username", username)
    page.fill("#signin-password", password)
    page.click("#signin-submit")
    page.wait_for_function("!document.querySelector('#signin') || !document.querySelector('#signin').open")
