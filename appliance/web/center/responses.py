"""How every end-user page is answered: the template, and headers that keep the token in its URL private.

The token in the path is the credential, so no page may be cached, indexed, framed or leak its
address in a Referer. The pages run no script at all; the accent colour is an inline style.
"""

from __future__ import annotations

from litestar.response import Redirect, Template

_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


def page(template: str, view: object, status_code: int = 200) -> Template:
    return Template(
        template_name=f"center/{template}", context={"page": view}, status_code=status_code, headers=HEADERS
    )


def see_other(path: str) -> Redirect:
    return Redirect(path, status_code=303, headers=HEADERS)
