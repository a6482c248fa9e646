"""Was an open or a click made by a person, or by a machine on their behalf? Pure.

Mail providers fetch images through proxies (Gmail, Yahoo), security gateways follow every link
of a message to scan it (Proofpoint, Mimecast, Barracuda, Microsoft Safe Links), and scripts
leave tool names in their User-Agent. Such events are kept — they still show the message
arrived — but flagged, and the rates that pick an A/B winner leave them out.
"""

from __future__ import annotations

import re
from datetime import timedelta

# A link followed this soon after sending was fetched by a scanner, not read by a person. (Not
# for opens: someone with their mail open sees a message the moment it lands.)
TOO_SOON = timedelta(seconds=2)

_MACHINES = (
    # Apple Mail Privacy Protection fetches every image through its proxy as the message arrives,
    # read or not, sending a User-Agent of "Mozilla/5.0" and nothing more: no browser or mail
    # client a person uses sends so little.
    ("mail proxy", re.compile(r"GoogleImageProxy|YahooMailProxy|ggpht\.com|^Mozilla/5\.0$", re.IGNORECASE)),
    (
        "link scanner",
        re.compile(
            r"Barracuda|Proofpoint|Mimecast|SafeLinks|Safe Links|Forcepoint|Trend ?Micro|IronPort"
            r"|MessageLabs|Symantec|Sophos|Zscaler|FireEye|Trellix",
            re.IGNORECASE,
        ),
    ),
    ("bot", re.compile(r"bot\b|crawler|spider|preview|HeadlessChrome|PhantomJS", re.IGNORECASE)),
    ("script", re.compile(r"^(curl|wget|python-|Go-http-client|Java/|okhttp|axios|node-fetch)", re.I)),
)


def automated(
    user_agent: str | None, *, method: str = "GET", since_sent: timedelta | None = None
) -> str | None:
    """Why this event looks automated, or None when it looks like a person.

    `since_sent` is given for clicks only: how long after the provider took the message."""
    agent = (user_agent or "").strip()
    if not agent:
        return "no user agent"
    if method.upper() == "HEAD":
        return "HEAD request (a link check)"
    for reason, pattern in _MACHINES:
        if pattern.search(agent):
            return reason
    if since_sent is not None and since_sent < TOO_SOON:
        return f"within {TOO_SOON.total_seconds():g}s of sending (a prefetch)"
    return None
