"""One view model per end-user page, and the functions that build them. Pure: no database, no request.

Every page shares `Chrome`: the operator's theme and the words in the recipient's language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...config.schema import CategoryConfig, ClarionConfig
from ...preferences.matrix import CategorySetting
from ...preferences.wording import Wording
from .forms import UNSUBSCRIBE_ALL, field_name
from .theme import Theme, theme_for


@dataclass(frozen=True)
class Chrome:
    """What the shared layout needs: brand, language, the words, the page title."""

    theme: Theme
    words: Wording
    title: str

    @property
    def lang(self) -> str:
        return self.words.locale

    def retitled(self, title_key: str, **values: str) -> Chrome:
        return replace(self, title=self.words(title_key, **values))


@dataclass(frozen=True)
class Toggle:
    field: str  # the form field, also the element id
    label: str
    on: bool


@dataclass(frozen=True)
class CategoryRow:
    name: str
    title: str
    description: str
    toggles: tuple[Toggle, ...]  # shown as checkboxes only where the category is optional

    @property
    def channels(self) -> str:
        """The channels in words, for categories listed without toggles."""
        return ", ".join(toggle.label for toggle in self.toggles)


@dataclass(frozen=True)
class PreferencesPage:
    chrome: Chrome
    action: str
    optional: list[CategoryRow]
    always: list[CategoryRow]
    unsubscribed_all: bool
    saved: bool
    unsubscribe_all_field: str = UNSUBSCRIBE_ALL


@dataclass(frozen=True)
class UnsubscribePage:
    chrome: Chrome
    category: str  # its title, in the recipient's language
    action: str
    manage_url: str
    done: bool


@dataclass(frozen=True)
class NoticePage:
    """A page that only tells something: a broken or expired link."""

    chrome: Chrome
    body: str
    manage_url: str | None = None


def chrome(config: ClarionConfig, locale: str | None, title_key: str, **values: str) -> Chrome:
    theme = theme_for(config)
    words = Wording(config.preference_center, locale, theme.product)
    return Chrome(theme=theme, words=words, title=words(title_key, **values))


def preferences_page(
    config: ClarionConfig,
    locale: str | None,
    settings: list[CategorySetting],
    *,
    unsubscribed_all: bool,
    action: str,
    saved: bool,
) -> PreferencesPage:
    frame = chrome(config, locale, "title")
    rows = [_row(frame.words, setting) for setting in settings]
    return PreferencesPage(
        chrome=frame,
        action=action,
        optional=[row for row, setting in zip(rows, settings, strict=True) if setting.optional],
        always=[row for row, setting in zip(rows, settings, strict=True) if not setting.optional],
        unsubscribed_all=unsubscribed_all,
        saved=saved,
    )


def unsubscribe_page(
    config: ClarionConfig,
    locale: str | None,
    category: tuple[str, CategoryConfig],
    *,
    action: str,
    manage_url: str,
    done: bool,
) -> UnsubscribePage:
    frame = chrome(config, locale, "title")
    title = frame.words.category_title(*category)
    frame = frame.retitled("unsubscribed_title" if done else "unsubscribe_title", category=title)
    return UnsubscribePage(chrome=frame, category=title, action=action, manage_url=manage_url, done=done)


def notice_page(
    config: ClarionConfig, locale: str | None, title_key: str, body_key: str, manage_url: str | None = None
) -> NoticePage:
    frame = chrome(config, locale, title_key)
    return NoticePage(chrome=frame, body=frame.words(body_key), manage_url=manage_url)


def _row(words: Wording, setting: CategorySetting) -> CategoryRow:
    return CategoryRow(
        name=setting.name,
        title=words.category_title(setting.name, setting.rules),
        description=words.category_description(setting.name, setting.rules),
        toggles=tuple(
            Toggle(
                field=field_name(setting.name, item.channel),
                label=words.channel(item.channel),
                on=item.enabled,
            )
            for item in setting.channels
        ),
    )
