"""Google and Microsoft sign-in pages: e-mail → Next → password → Next, and what can go wrong.

Both pages are reported with stable ids and names (Google: ``#identifierId``, ``Passwd``;
Microsoft: ``loginfmt``, ``passwd``, one ``#idSIButton9`` for Next / Sign in / Yes). Each page
is one table (:class:`SignInTable`); :func:`sign_in` walks it and returns whatever happens —
the adapter's rules (:func:`sign_in_rules`) read the outcome off the page afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from meetbot.runner.humanize import Humanizer
from meetbot.runner.platforms.base import Phase
from meetbot.runner.platforms.credentials import AccountLogin
from meetbot.runner.platforms.rules import Origins, Rule, normalise

log = logging.getLogger(__name__)

WRONG_PASSWORD = "sign_in_wrong_password"
UNKNOWN_ACCOUNT = "sign_in_unknown_account"
CHALLENGE = "sign_in_challenge"


@dataclass(frozen=True, slots=True)
class SignInTable:
    hosts: tuple[str, ...]
    email: tuple[str, ...]
    email_next: tuple[str, ...]
    password: tuple[str, ...]
    password_next: tuple[str, ...]
    next_names: tuple[str, ...]
    """Accessible names of the submit buttons (fallback for the selectors)."""
    wrong_password: tuple[str, ...]
    unknown_account: tuple[str, ...]
    challenge: tuple[str, ...]
    """Pages only a person can get through (second factor, captcha)."""
    stay_signed_in: tuple[str, ...] = ()
    stay_signed_in_yes: tuple[str, ...] = ()


GOOGLE = SignInTable(
    hosts=("accounts.google.com",),
    email=("input#identifierId", 'input[name="identifier"]', 'input[type="email"]'),
    email_next=("#identifierNext button",),
    password=('input[name="Passwd"]', 'input[type="password"]'),
    password_next=("#passwordNext button",),
    next_names=("Next",),
    wrong_password=("Wrong password. Try again", "Your password was changed"),
    unknown_account=("Couldn't find your Google Account", "Enter a valid email or phone number"),
    challenge=("Verify it's you", "2-Step Verification", "Confirm you're not a robot"),
)

MICROSOFT = SignInTable(
    hosts=("login.microsoftonline.com", "login.live.com", "login.microsoftonline.us"),
    email=('input[name="loginfmt"]', 'input[type="email"]'),
    email_next=('input[type="submit"]#idSIButton9', "#idSIButton9"),
    password=('input[name="passwd"]', 'input[type="password"]'),
    password_next=('input[type="submit"]#idSIButton9', "#idSIButton9"),
    next_names=("Next", "Sign in"),
    wrong_password=("Your account or password is incorrect",),
    unknown_account=(
        "This username may be incorrect",
        "We couldn't find an account with that username",
    ),
    challenge=("Approve sign in request", "Verify your identity", "More information required"),
    stay_signed_in=("Stay signed in?",),
    stay_signed_in_yes=('input[type="submit"]#idSIButton9', "#idSIButton9"),
)


def sign_in_rules(table: SignInTable, sub_code_without_credentials: str) -> list[Rule]:
    """Rules for a sign-in page: wrong credentials, a challenge, or the page itself."""
    return [
        Rule(Phase.INVALID_CREDENTIALS, WRONG_PASSWORD, texts=table.wrong_password),
        Rule(Phase.INVALID_CREDENTIALS, UNKNOWN_ACCOUNT, texts=table.unknown_account),
        Rule(Phase.SIGN_IN_REQUIRED, CHALLENGE, texts=table.challenge),
        Rule(Phase.SIGN_IN_REQUIRED, sub_code_without_credentials, hosts=table.hosts),
    ]


def on_sign_in_page(url: str, table: SignInTable, origins: Origins) -> bool:
    host = (urlsplit(origins.to_real(url)).hostname or "").lower()
    return host in table.hosts


def _any(page: Page, selectors: tuple[str, ...], names: tuple[str, ...] = ()) -> Locator:
    locator = page.locator(", ".join(selectors))
    for name in names:
        locator = locator.or_(page.get_by_role("button", name=name, exact=True))
    return locator.first


def _texts(page: Page, texts: tuple[str, ...]) -> Locator:
    pattern = "|".join(re.escape(t) for t in texts)
    return page.get_by_text(re.compile(pattern, re.IGNORECASE)).first


async def _shown(page: Page, texts: tuple[str, ...]) -> bool:
    if not texts:
        return False
    body = normalise(await page.locator("body").inner_text(timeout=2000))
    return any(normalise(t) in body for t in texts)


async def sign_in(
    page: Page,
    table: SignInTable,
    login: AccountLogin,
    humanizer: Humanizer,
    origins: Origins,
    step_timeout: float,
) -> None:
    """Sign in on the page now shown. Returns when the browser has left the sign-in page, or
    the page shows an error or a challenge (the caller's rules read which)."""
    ms = step_timeout * 1000
    email = _any(page, table.email)
    await email.wait_for(state="visible", timeout=ms)
    log.info("signing in: e-mail")
    await humanizer.type_into(page, email, login.email, timeout=step_timeout)
    await humanizer.pause()
    await humanizer.click(page, _any(page, table.email_next, table.next_names))
    password = _any(page, table.password)
    refused = _texts(page, (*table.unknown_account, *table.challenge))
    await password.or_(refused).first.wait_for(state="visible", timeout=ms)
    if not await password.is_visible():
        log.warning("sign-in stopped after the e-mail step")
        return
    log.info("signing in: password")
    await humanizer.type_into(page, password, login.password, timeout=step_timeout)
    await humanizer.pause()
    await humanizer.click(page, _any(page, table.password_next, table.next_names))
    await _until_signed_in(page, table, humanizer, origins, step_timeout)


async def _until_signed_in(
    page: Page, table: SignInTable, humanizer: Humanizer, origins: Origins, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    stop = (*table.wrong_password, *table.unknown_account, *table.challenge)
    while time.monotonic() < deadline:
        try:
            if not on_sign_in_page(page.url, table, origins):
                log.info("signed in")
                return
            if await _shown(page, stop):
                log.warning("sign-in refused")
                return
            if await _shown(page, table.stay_signed_in):
                await humanizer.click(page, _any(page, table.stay_signed_in_yes, ("Yes",)))
        except PlaywrightError:  # the page is navigating away: check again
            pass
        await asyncio.sleep(0.25)
    log.warning("still on the sign-in page after %.0f s", timeout)
