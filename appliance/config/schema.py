"""The typed shape of the operator YAML.

Every model forbids unknown keys so a typo is an error, not a silently ignored setting.
Provider options are validated separately, against the options model their `type` declares
(see `appliance.providers.registry`), so plugins can add types without touching this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, SecretStr, field_validator, model_validator

from ..audiences.segment_rules import SegmentDefinition
from ..preferences.frequency import FrequencyCap, parse_caps
from ..preferences.quiet_hours import QuietHours, parse_quiet_hours
from .units import DurationField, RateField


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    IN_APP = "in_app"
    WEBHOOK = "webhook"


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    BULK = "bulk"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]


def _long_secret(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < 16:
        raise ValueError("must be at least 16 characters")
    return value


class SignInLimits(Strict):
    """Sign-in attempts allowed within `window`, per username and per client address."""

    per_username: Annotated[int, Field(ge=1, le=1000)] = 5
    per_address: Annotated[int, Field(ge=1, le=100_000)] = 20
    window: DurationField = timedelta(minutes=15)

    @field_validator("window")
    @classmethod
    def _whole_seconds(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value


class ServerConfig(Strict):
    public_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = Field(description="signs sessions and links; at least 16 characters")
    product_name: str = "Clarion"
    sign_in: SignInLimits = SignInLimits()

    _long_enough = field_validator("secret_key")(_long_secret)


OriginField = Annotated[
    str, Field(pattern=r"^(\*|https?://[^/\s]+)$", description='"https://app.example.com", or "*"')
]


class InboxConfig(Strict):
    """The end-user inbox API: your backend signs each recipient's id with `secret` (HMAC-SHA256)."""

    secret: SecretStr = Field(description="signs recipient tokens; at least 16 characters")
    allowed_origins: list[OriginField] = []  # sites whose pages embed the bell (CORS)

    _long_enough = field_validator("secret")(_long_secret)


class DeliveryConfig(Strict):
    lease: DurationField = timedelta(minutes=2)
    queue_lease: DurationField = timedelta(minutes=10)
    sweep_interval: DurationField = timedelta(seconds=5)
    worker_threads: Annotated[int, Field(ge=1, le=256)] = 8


class RetryPolicy(Strict):
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    backoff_min: DurationField = timedelta(seconds=1)
    backoff_max: DurationField = timedelta(minutes=5)

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.backoff_max < self.backoff_min:
            raise ValueError("backoff_max must not be shorter than backoff_min")
        return self


class ApiKeyConfig(Strict):
    name: Name
    key: SecretStr | None = None
    key_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ApiKeyConfig:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of `key` or `key_sha256`")
        return self


class UserConfig(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password_hash: SecretStr
    role: Literal["admin", "marketer", "viewer"] = "admin"

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("$argon2"):
            raise ValueError("expected an argon2 hash; make one with `clarion hash-password`")
        return value


class ChannelConfig(Strict):
    providers: Annotated[list[Name], Field(min_length=1)]


class CircuitConfig(Strict):
    failures: Annotated[int, Field(ge=1, le=1000)] = 5
    reset_after: DurationField = timedelta(seconds=30)


class ProviderConfig(BaseModel):
    """Settings every provider has; the rest is checked against the type's own options."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Name
    rate_limit: RateField | None = None
    timeout: DurationField = timedelta(seconds=10)
    circuit: CircuitConfig = CircuitConfig()

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Strategy(StrEnum):
    ALL = "all"  # every channel of the category
    FALLBACK = "fallback"  # the first channel that can take it; the next only if that one fails


class DefaultChoice(StrEnum):
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


FrequencyCapsField = Annotated[tuple[FrequencyCap, ...], PlainValidator(parse_caps)]
QuietHoursField = Annotated[QuietHours, PlainValidator(parse_quiet_hours)]
ColorField = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", description='a hex colour such as "#4f46e5"')]


def _time_zone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone "{value}"; expected an IANA name such as "Europe/Paris"'
        ) from None
    return str(value)


TimeZoneField = Annotated[str, PlainValidator(_time_zone)]


class TrackingConfig(Strict):
    """Open (a pixel) and click (rewritten links) tracking of a category's HTML emails.

    Left out, each is on for `bulk` categories (newsletters, offers) and off for the rest, whose
    mail people expect to be private and plain (codes, receipts).
    """

    opens: bool | None = None
    clicks: bool | None = None


class CategoryConfig(Strict):
    title: str = ""
    description: str = ""
    priority: Priority = Priority.NORMAL
    channels: Annotated[list[Channel], Field(min_length=1)]
    strategy: Strategy = Strategy.ALL
    opt_out: bool = True
    default: DefaultChoice = DefaultChoice.OPTED_IN
    frequency_cap: FrequencyCapsField = ()
    quiet_hours: QuietHoursField | None = None
    bypass_quiet_hours: bool | None = None
    retry: RetryPolicy = RetryPolicy()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _consistent(self) -> CategoryConfig:
        if not self.opt_out and self.default is DefaultChoice.OPTED_OUT:
            raise ValueError("a category users may not opt out of cannot default to opted_out")
        if self.quiet_hours is not None and self.bypass_quiet_hours:
            raise ValueError("`quiet_hours` and `bypass_quiet_hours: true` contradict each other")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("`channels` lists a channel twice")
        return self

    @property
    def display_title(self) -> str:
        return self.title or self.description.split(".")[0] or "Notifications"

    @property
    def tracks_opens(self) -> bool:
        return self.tracking.opens if self.tracking.opens is not None else self.priority is Priority.BULK

    @property
    def tracks_clicks(self) -> bool:
        return self.tracking.clicks if self.tracking.clicks is not None else self.priority is Priority.BULK

    def quiet_hours_under(self, policy: PolicyConfig) -> QuietHours | None:
        """The category's own window, else the global one unless it bypasses it (high priority does)."""
        if self.quiet_hours is not None:
            return self.quiet_hours
        bypass = (
            self.bypass_quiet_hours if self.bypass_quiet_hours is not None else self.priority is Priority.HIGH
        )
        return None if bypass else policy.quiet_hours


class PolicyConfig(Strict):
    timezone: TimeZoneField = "UTC"  # for recipients who have not given theirs
    quiet_hours: QuietHoursField | None = None  # for every category without its own


class CategoryText(Strict):
    title: str | None = None
    description: str | None = None


class CenterTranslation(Strict):
    text: dict[str, str] = {}  # page wording, by key (see docs/configuration.md)
    categories: dict[Name, CategoryText] = {}


class PreferenceCenterConfig(Strict):
    product_name: str | None = None  # defaults to server.product_name
    logo_url: str | None = None
    accent_color: ColorField = "#4f46e5"
    link_ttl: DurationField = timedelta(days=365)
    unsubscribe_mailto: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    translations: dict[str, CenterTranslation] = {}


@dataclass(frozen=True)
class Source:
    """A template body: written inline, or kept in a file beside the config."""

    inline: str | None = None
    file: str | None = None


def _parse_source(value: Any) -> Source:
    if isinstance(value, Source):
        return value
    if isinstance(value, str):
        return Source(inline=value)
    if isinstance(value, dict) and set(value) == {"file"} and isinstance(value["file"], str):
        return Source(file=value["file"])
    raise ValueError('expected template text, or {file: "path/relative/to/config.yaml"}')


SourceField = Annotated[Source, PlainValidator(_parse_source)]


class EmailPart(Strict):
    subject: SourceField
    text: SourceField | None = None
    html: SourceField | None = None

    @model_validator(mode="after")
    def _has_body(self) -> EmailPart:
        if self.text is None and self.html is None:
            raise ValueError("an email needs `text`, `html` or both")
        return self


class SmsPart(Strict):
    text: SourceField


class PushPart(Strict):
    title: SourceField
    body: SourceField
    data: dict[str, SourceField] = {}


class InAppPart(Strict):
    title: SourceField
    body: SourceField
    action_url: SourceField | None = None


class WebhookPart(Strict):
    text: SourceField


class ChannelParts(Strict):
    email: EmailPart | None = None
    sms: SmsPart | None = None
    push: PushPart | None = None
    in_app: InAppPart | None = None
    webhook: WebhookPart | None = None

    def part(self, channel: Channel) -> Strict | None:
        return getattr(self, channel.value)


# Variant overrides: each channel's fields, all optional. A variant gives only what it changes;
# every field it leaves out comes from the template (see `appliance.rendering`).


class EmailOverride(Strict):
    subject: SourceField | None = None
    text: SourceField | None = None
    html: SourceField | None = None


class SmsOverride(Strict):
    text: SourceField | None = None


class PushOverride(Strict):
    title: SourceField | None = None
    body: SourceField | None = None
    data: dict[str, SourceField] | None = None  # one field: given, it replaces the whole map


class InAppOverride(Strict):
    title: SourceField | None = None
    body: SourceField | None = None
    action_url: SourceField | None = None


class WebhookOverride(Strict):
    text: SourceField | None = None


class ChannelOverrides(Strict):
    email: EmailOverride | None = None
    sms: SmsOverride | None = None
    push: PushOverride | None = None
    in_app: InAppOverride | None = None
    webhook: WebhookOverride | None = None

    def part(self, channel: Channel) -> Strict | None:
        return getattr(self, channel.value)


# Upper case is allowed, unlike `Name`, because A/B tests are conventionally named `A` and `B`.
VariantName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]


class VariantConfig(ChannelOverrides):
    weight: Annotated[int, Field(ge=0)] = 1  # relative: 1/1 and 50/50 split alike; 0 pauses the variant
    locales: dict[str, ChannelOverrides] = {}  # the variant's own translations of its overrides


class TemplateConfig(ChannelParts):
    description: str = ""
    # What the operator UI previews the template with; without it, placeholders for what it reads.
    sample_data: dict[str, Any] = {}
    locales: dict[str, ChannelParts] = {}
    variants: dict[VariantName, VariantConfig] = {}

    @field_validator("variants")
    @classmethod
    def _someone_is_chosen(cls, value: dict[str, VariantConfig]) -> dict[str, VariantConfig]:
        if value and not any(variant.weight > 0 for variant in value.values()):
            raise ValueError("every variant has weight 0; give at least one a weight above 0")
        return value


class ClarionConfig(Strict):
    version: Literal[1] = 1
    server: ServerConfig
    delivery: DeliveryConfig = DeliveryConfig()
    api_keys: list[ApiKeyConfig] = []
    users: list[UserConfig] = []
    channels: dict[Channel, ChannelConfig]
    providers: dict[Name, ProviderConfig]
    categories: dict[Name, CategoryConfig]
    templates: dict[Name, TemplateConfig] = {}
    policy: PolicyConfig = PolicyConfig()
    preference_center: PreferenceCenterConfig = PreferenceCenterConfig()
    segments: dict[Name, SegmentDefinition] = {}  # saved recipient filters; see appliance.audiences
    inbox: InboxConfig | None = None  # needed by `inbox` providers: see appliance.inbox
