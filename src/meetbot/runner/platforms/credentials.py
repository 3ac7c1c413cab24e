"""What a signed-in bot signs in with: handed to an adapter's constructor, never stored here.

The control plane keeps these encrypted and gives them to one runner for one bot; the adapters
only read them. Secrets never appear in ``repr()`` (logs, tracebacks, debug artifacts).

- Google Meet: a Google account (``google``): the adapter signs in on Google's sign-in page
  before going to the meeting.
- Microsoft Teams: a Microsoft 365 / Entra ID account (``microsoft``): used when the meeting
  sends the bot to Microsoft's sign-in page (tenants that forbid anonymous joins).
- Zoom: a ZAK (to join as a Zoom user) and/or an OBF token (to join on behalf of a user who is
  in the meeting), both minted by the Zoom REST API (``GET /v2/users/{id}/token?type=zak`` /
  ``type=onbehalf``) shortly before joining. They travel as query parameters of the web-client
  URL (``zak=``, ``obf_token=``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from meetbot.contract.platforms import PLATFORM_CREDENTIAL_KINDS


@dataclass(frozen=True, slots=True)
class AccountLogin:
    """An e-mail address and password for a web sign-in page."""

    email: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.email.strip() or not self.password:
            raise ValueError("an account login needs an e-mail address and a password")


@dataclass(frozen=True, slots=True)
class ZoomTokens:
    """Zoom's join tokens; at least one is set."""

    zak: str | None = field(default=None, repr=False)
    obf_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not (self.zak or self.obf_token):
            raise ValueError("Zoom tokens need a ZAK or an OBF token")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything a bot may sign in with; each adapter reads only its own platform's part."""

    google: AccountLogin | None = None
    microsoft: AccountLogin | None = None
    zoom: ZoomTokens | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Mapping[str, str]]) -> Credentials:
        """From the decrypted JSON the control plane hands over, e.g.
        ``{"google": {"email": ..., "password": ...}, "zoom": {"zak": ...}}``."""
        unknown = set(data) - set(PLATFORM_CREDENTIAL_KINDS)
        if unknown:
            raise ValueError(f"unknown credential kinds: {', '.join(sorted(unknown))}")
        google, microsoft, zoom = data.get("google"), data.get("microsoft"), data.get("zoom")
        return cls(
            google=AccountLogin(google["email"], google["password"]) if google else None,
            microsoft=AccountLogin(microsoft["email"], microsoft["password"])
            if microsoft
            else None,
            zoom=ZoomTokens(zoom.get("zak"), zoom.get("obf_token")) if zoom else None,
        )
