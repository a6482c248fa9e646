"""How the operator's brand shows on the end-user pages: product name, logo and accent colour."""

from __future__ import annotations

from dataclasses import dataclass

from ...config.schema import ClarionConfig

_DARK_TEXT = "#111827"
_LIGHT_TEXT = "#ffffff"
_AA_CONTRAST = 4.5  # WCAG AA for normal text


@dataclass(frozen=True)
class Theme:
    product: str
    logo_url: str | None
    accent: str  # "#rrggbb": the schema only accepts that form, so it is safe in a style attribute
    on_accent: str  # text drawn on the accent colour: white, or dark if the accent is light

    @property
    def style(self) -> str:
        """The CSS custom properties the page's stylesheet reads."""
        return f"--accent: {self.accent}; --on-accent: {self.on_accent};"

    @property
    def initial(self) -> str:
        """The letter of the monogram shown when there is no logo."""
        return (self.product.strip()[:1] or "?").upper()


def theme_for(config: ClarionConfig) -> Theme:
    center = config.preference_center
    return Theme(
        product=center.product_name or config.server.product_name,
        logo_url=center.logo_url,
        accent=center.accent_color,
        on_accent=readable_on(center.accent_color),
    )


def readable_on(background: str) -> str:
    """White text where it passes WCAG AA on `background`, else near-black."""
    white = _contrast(_luminance(background), 1.0)
    return _LIGHT_TEXT if white >= _AA_CONTRAST else _DARK_TEXT


def _luminance(color: str) -> float:
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: float, b: float) -> float:
    light, dark = max(a, b), min(a, b)
    return (light + 0.05) / (dark + 0.05)
