"""The words end users read: the preference center and the footer of optional emails.

English and French ship with Clarion; an operator overrides any of them, or adds a language,
under `preference_center.translations.<locale>.text` in the YAML.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from ..config.schema import CategoryConfig, Channel, PreferenceCenterConfig

ENGLISH = {
    "title": "Notification preferences",
    "intro": "Choose what {product} sends you, and where.",
    "always_on": "Always sent",
    "always_on_hint": "Needed to keep your account working and safe; these cannot be turned off.",
    "unsubscribe_all": "Unsubscribe from everything optional",
    "unsubscribe_all_hint": (
        "You will still receive messages that cannot be turned off, such as sign-in codes."
    ),
    "save": "Save preferences",
    "saved": "Your preferences are saved.",
    "unsubscribe_title": "Unsubscribe from {category}?",
    "unsubscribe_button": "Unsubscribe",
    "unsubscribed": (
        "You are unsubscribed from {category}. It can take a few minutes for messages "
        "already on their way to stop."
    ),
    "manage": "Manage all your preferences",
    "optional_heading": "What you receive",
    "all_off_notice": (
        "You are unsubscribed from everything optional: only messages that cannot be turned off "
        "are sent. Untick the box below to receive what you chose here again."
    ),
    "unsubscribe_body": (
        "You will no longer receive {category} from {product}, on any channel. Other messages "
        "are not affected."
    ),
    "unsubscribed_title": "You are unsubscribed",
    "gone_title": "This unsubscribe link no longer applies",
    "gone_body": (
        "{product} no longer sends these messages, or they can no longer be turned off. Nothing was changed."
    ),
    "invalid_title": "This link does not work",
    "invalid_body": (
        "It may be incomplete or altered. Nothing was changed. Use the link in a recent "
        "message from {product} instead."
    ),
    "expired_title": "This link has expired",
    "expired_body": (
        "Links in messages stop working after a while. Nothing was changed. Use the link "
        "in a more recent message from {product}."
    ),
    "channel_email": "Email",
    "channel_sms": "Text message",
    "channel_push": "Push notification",
    "channel_in_app": "In the app",
    "channel_webhook": "Chat",
    "footer_text": (
        "Manage what {product} sends you: {preferences_url}\nUnsubscribe from {category}: {unsubscribe_url}"
    ),
    "footer_preferences": "Manage notification preferences",
    "footer_unsubscribe": "Unsubscribe from {category}",
}

FRENCH = {
    "title": "Préférences de notification",
    "intro": "Choisissez ce que {product} vous envoie, et par quel moyen.",
    "always_on": "Toujours envoyés",
    "always_on_hint": (
        "Nécessaires au bon fonctionnement et à la sécurité de votre compte ; ils ne "
        "peuvent pas être désactivés."
    ),
    "unsubscribe_all": "Me désabonner de tout ce qui est facultatif",
    "unsubscribe_all_hint": "Vous recevrez encore les messages indispensables, comme les codes de connexion.",
    "save": "Enregistrer",
    "saved": "Vos préférences sont enregistrées.",
    "unsubscribe_title": "Vous désabonner de « {category} » ?",
    "unsubscribe_button": "Me désabonner",
    "unsubscribed": (
        "Vous êtes désabonné de « {category} ». Les messages déjà en route peuvent "
        "encore arriver pendant quelques minutes."
    ),
    "manage": "Gérer toutes vos préférences",
    "optional_heading": "Ce que vous recevez",
    "all_off_notice": (
        "Vous êtes désabonné de tout ce qui est facultatif : seuls les messages indispensables "
        "vous sont envoyés. Décochez la case ci-dessous pour recevoir de nouveau ce que vous "
        "avez choisi ici."
    ),
    "unsubscribe_body": (
        "Vous ne recevrez plus « {category} » de {product}, sur aucun canal. Les autres "
        "messages ne changent pas."
    ),
    "unsubscribed_title": "Vous êtes désabonné",
    "gone_title": "Ce lien de désabonnement ne s'applique plus",
    "gone_body": (
        "{product} n'envoie plus ces messages, ou ils ne peuvent plus être désactivés. Rien n'a été changé."
    ),
    "invalid_title": "Ce lien ne fonctionne pas",
    "invalid_body": (
        "Il est peut-être incomplet ou modifié. Rien n'a été changé. Utilisez plutôt le "
        "lien d'un message récent de {product}."
    ),
    "expired_title": "Ce lien a expiré",
    "expired_body": (
        "Les liens des messages cessent de fonctionner au bout d'un moment. Rien n'a été "
        "changé. Utilisez le lien d'un message plus récent de {product}."
    ),
    "channel_email": "E-mail",
    "channel_sms": "SMS",
    "channel_push": "Notification push",
    "channel_in_app": "Dans l'application",
    "channel_webhook": "Messagerie",
    "footer_text": (
        "Gérer ce que {product} vous envoie : {preferences_url}\nVous désabonner de « "
        "{category} » : {unsubscribe_url}"
    ),
    "footer_preferences": "Gérer vos préférences de notification",
    "footer_unsubscribe": "Vous désabonner de « {category} »",
}

BUILT_IN: Mapping[str, Mapping[str, str]] = {"en": ENGLISH, "fr": FRENCH}
KEYS = frozenset(ENGLISH)


def placeholders(text: str) -> frozenset[str]:
    """The `{names}` a text uses; raises ValueError when its braces do not parse."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def languages(locale: str | None) -> list[str]:
    """fr-CA -> [fr-ca, fr]: the most specific first."""
    if not locale:
        return []
    parts = locale.replace("_", "-").lower().split("-")
    return ["-".join(parts[:length]) for length in range(len(parts), 0, -1)]


class Wording:
    """The words for one locale, falling back to its language, then to English."""

    def __init__(self, center: PreferenceCenterConfig, locale: str | None, product: str) -> None:
        translations = {name.lower(): value for name, value in center.translations.items()}
        chain = [*languages(locale), "en"]
        self.locale = next((name for name in chain if name in translations or name in BUILT_IN), "en")
        self._texts = [layer for name in chain for layer in _layers(name, translations)]
        self._categories = [translations[name].categories for name in chain if name in translations]
        self.product = product

    def __call__(self, key: str, **values: str) -> str:
        template = next((layer[key] for layer in self._texts if key in layer), key)
        return template.format(product=self.product, **values)

    def channel(self, channel: Channel) -> str:
        return self(f"channel_{channel.value}")

    def category_title(self, name: str, rules: CategoryConfig) -> str:
        found = next(
            (layer[name].title for layer in self._categories if name in layer and layer[name].title), None
        )
        return found or rules.display_title

    def category_description(self, name: str, rules: CategoryConfig) -> str:
        found = (layer[name].description for layer in self._categories if name in layer)
        return next((text for text in found if text), rules.description)


def _layers(name: str, translations: Mapping[str, object]) -> list[Mapping[str, str]]:
    layers: list[Mapping[str, str]] = []
    if name in translations:
        layers.append(translations[name].text)  # type: ignore[attr-defined]
    if name in BUILT_IN:
        layers.append(BUILT_IN[name])
    return layers
