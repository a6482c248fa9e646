"""A/B variants: deterministic weighted assignment, partial overrides, located config errors."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.campaigns import lanes
from appliance.campaigns.assignment import assign, in_share
from appliance.campaigns.winner import Score, pick
from appliance.catalog import load_catalog
from appliance.config.schema import Channel, TemplateConfig
from appliance.errors import ConfigError
from appliance.pipeline.claims import Claimed, RecipientView
from appliance.pipeline.compose import compose
from appliance.preferences.verdict import Standing
from appliance.providers.base import EmailMessage
from appliance.rendering import TemplateCatalog
from tests.conftest import EXAMPLE_CONFIG

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True)
weight_maps = st.dictionaries(names, st.integers(0, 100), min_size=1, max_size=5).filter(
    lambda weights: sum(weights.values()) > 0
)


# --- assignment -------------------------------------------------------------------------------


@given(salt=st.text(), key=st.text(), weights=weight_maps)
def test_assignment_is_deterministic_and_ignores_the_order_weights_are_listed_in(
    salt: str, key: str, weights: dict[str, int]
) -> None:
    chosen = assign(salt, key, weights)
    assert chosen == assign(salt, key, weights)
    assert chosen == assign(salt, key, dict(reversed(list(weights.items()))))
    assert weights[chosen] > 0


def test_assignment_is_pinned_so_it_holds_across_processes_and_releases() -> None:
    # Python's hash() is salted per process; these values would drift if anything relied on it.
    weights = {"A": 50, "B": 50}
    picks = [assign("campaign-1", f"user-{i}", weights) for i in range(8)]
    assert picks == [assign("campaign-1", f"user-{i}", {"B": 50, "A": 50}) for i in range(8)]
    assert picks == PINNED


PINNED = ["A", "A", "B", "A", "B", "A", "B", "A"]

KEYS = [f"recipient-{i}" for i in range(20_000)]
# With n = 20,000 keys a variant of true share p lands at p ± sqrt(p(1-p)/n): at most ±0.35
# percentage points (p = 0.5). ±2 points is over 5.6 standard deviations, so across every
# example and variant here a correct implementation fails with odds below one in a hundred
# thousand, while a skewed one (say a variant dropped or an off-by-one in the cumulative walk)
# misses by far more.
TOLERANCE = 0.02


@settings(max_examples=15, deadline=None)
@given(salt=st.text(max_size=20), weights=weight_maps)
def test_shares_stay_within_two_points_of_the_weights(salt: str, weights: dict[str, int]) -> None:
    counts = Counter(assign(salt, key, weights) for key in KEYS)
    total = sum(weights.values())
    for name, weight in weights.items():
        assert abs(counts[name] / len(KEYS) - weight / total) <= TOLERANCE, (name, counts)


@given(
    salt=st.text(),
    key=st.text(),
    live=st.dictionaries(names, st.integers(1, 100), min_size=1, max_size=3),
    paused=st.lists(names, min_size=1, max_size=3),
)
def test_a_variant_with_weight_zero_is_never_chosen(
    salt: str, key: str, live: dict[str, int], paused: list[str]
) -> None:
    weights = {**{name: 0 for name in paused}, **live}
    assert weights[assign(salt, key, weights)] > 0


@settings(max_examples=25)
@given(salts=st.lists(st.text(max_size=20), min_size=2, max_size=2, unique=True))
def test_different_salts_assign_independently(salts: list[str]) -> None:
    first, second = ([assign(salt, key, {"A": 1, "B": 1}) for key in KEYS[:2_000]] for salt in salts)
    agreement = sum(a == b for a, b in zip(first, second, strict=True)) / 2_000
    # Independent 50/50 draws agree half the time, ± sqrt(0.25 / 2000) = 1.1 points; identical
    # salts would agree always. ±6 points is over 5 standard deviations.
    assert abs(agreement - 0.5) <= 0.06


@pytest.mark.parametrize("weights", [{}, {"A": 0, "B": 0}, {"A": 5, "B": -1}])
def test_assignment_refuses_weights_that_choose_nobody(weights: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="weight"):
        assign("salt", "key", weights)


# --- rendering --------------------------------------------------------------------------------

NEWS = {
    "email": {"subject": "{{ headline }}", "text": "Read: {{ headline }}", "html": "<h1>{{ headline }}</h1>"},
    "sms": {"text": "News: {{ headline }}"},
    "locales": {
        "fr": {"email": {"subject": "{{ headline }} (fr)", "text": "Lisez : {{ headline }}"}},
        "de": {"email": {"subject": "{{ headline }} (de)", "text": "Lesen: {{ headline }}"}},
    },
    "variants": {
        "A": {"weight": 1},
        "B": {
            "weight": 1,
            "email": {"subject": "B: {{ headline }}"},
            "locales": {"fr": {"email": {"subject": "B (fr) : {{ headline }}"}}},
        },
        "C": {"weight": 0, "email": {"text": "C text"}},
    },
}
CONTEXT = {"headline": "Spring"}


def catalog(**templates: dict) -> TemplateCatalog:
    compiled, problems = TemplateCatalog.compile(
        {name: TemplateConfig.model_validate(spec) for name, spec in templates.items()}, Path(".")
    )
    assert problems == []
    return compiled


def test_a_variant_that_overrides_the_subject_keeps_the_template_body() -> None:
    fields = catalog(news=NEWS).render("news", Channel.EMAIL, None, CONTEXT, variant="B")
    assert fields == {"subject": "B: Spring", "text": "Read: Spring", "html": "<h1>Spring</h1>"}


def test_channels_a_variant_leaves_alone_render_as_the_template() -> None:
    templates = catalog(news=NEWS)
    assert templates.render("news", Channel.SMS, None, CONTEXT, variant="B") == {"text": "News: Spring"}
    assert templates.render("news", Channel.EMAIL, None, CONTEXT, variant="A") == templates.render(
        "news", Channel.EMAIL, None, CONTEXT
    )


@pytest.mark.parametrize(
    ("locale", "variant", "subject", "text"),
    [
        ("fr-CA", None, "Spring (fr)", "Lisez : Spring"),
        ("fr-CA", "B", "B (fr) : Spring", "Lisez : Spring"),  # the variant's own French wins
        ("de", "B", "B: Spring", "Lesen: Spring"),  # untranslated variant text is language-neutral
        ("de", "C", "Spring (de)", "C text"),  # over the locale's content, field by field
        ("pt", "B", "B: Spring", "Read: Spring"),
    ],
)
def test_variant_overrides_lie_over_the_locale_content_most_specific_first(
    locale: str, variant: str | None, subject: str, text: str
) -> None:
    fields = catalog(news=NEWS).render("news", Channel.EMAIL, locale, CONTEXT, variant=variant)
    assert (fields["subject"], fields["text"]) == (subject, text)


def test_an_unknown_variant_falls_back_to_the_template_content() -> None:
    templates = catalog(news=NEWS)
    assert templates.render("news", Channel.EMAIL, "fr", CONTEXT, variant="gone") == templates.render(
        "news", Channel.EMAIL, "fr", CONTEXT
    )


def test_weights_are_offered_per_template_and_empty_without_variants() -> None:
    templates = catalog(news=NEWS, plain={"sms": {"text": "hi"}})
    assert templates.variants("news") == {"A": 1, "B": 1, "C": 0}
    assert templates.variants("plain") == {}
    assert templates.variants("missing") == {}


# Plain text: no Jinja delimiters, and no control characters (Jinja normalises line endings).
plain_text = st.text(st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="{}#"), max_size=30)


@given(plain_text)
def test_any_variant_subject_is_sent_as_written_with_the_base_body(subject: str) -> None:
    spec = {**NEWS, "variants": {"X": {"email": {"subject": subject}}}}
    fields = catalog(news=spec).render("news", Channel.EMAIL, None, CONTEXT, variant="X")
    assert (fields["subject"], fields["text"]) == (subject, "Read: Spring")


def test_compose_renders_the_claimed_variant() -> None:
    recipient = RecipientView(uuid.uuid4(), "u1", "u1@example.com", None, "fr", None, {}, ())
    claimed = Claimed(
        delivery_id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
        channel="email",
        priority="bulk",
        tries=1,
        category="news",
        template="news",
        data=CONTEXT,
        recipient=recipient,
        standing=Standing(has_email=True, has_phone=False, device_count=0),
        variant="B",
    )
    message = compose(claimed, catalog(news=NEWS))
    assert isinstance(message, EmailMessage)
    assert message.subject == "B (fr) : Spring"


# --- configuration ----------------------------------------------------------------------------

HEADER = """\
server: {secret_key: a-long-enough-secret}
channels: {email: {providers: [box]}, sms: {providers: [box]}}
providers: {box: {type: sandbox}}
categories: {news: {channels: [email]}}
templates:
"""


def problems(tmp_path: Path, templates: str) -> list[str]:
    path = tmp_path / "clarion.yaml"
    path.write_text(HEADER + templates)
    with pytest.raises(ConfigError) as caught:
        load_catalog(path, environ={})
    return [str(problem).removeprefix(str(path)) for problem in caught.value.problems]


def test_the_example_newsletter_tests_two_subjects() -> None:
    templates = load_catalog(EXAMPLE_CONFIG, environ={}).templates
    assert templates.variants("newsletter") == {"A": 50, "B": 50}
    context = {"headline": "Spring", "recipient": {}}
    a = templates.render("newsletter", Channel.EMAIL, None, context, variant="A")
    b = templates.render("newsletter", Channel.EMAIL, None, context, variant="B")
    assert a["subject"] != b["subject"]
    assert a["html"] == b["html"]


def test_variant_mistakes_are_reported_together_with_line_and_key_path(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
  hi:
    email: {subject: "Hi", text: "Hello"}
    locales:
      fr: {email: {subject: "Salut", text: "Bonjour"}}
    variants:
      B:
        weight: -1
        email: {subjet: "typo"}
        fax: {text: "no such channel"}
        sms: {text: "the template has no sms"}
        locales:
          de: {email: {subject: "no German template"}}
          fr: {sms: {text: "no French sms"}}
      "bad name": {}
  ho:
    email: {subject: "Ho", text: "Ho ho"}
    locales: {fr: {email: {subject: "Oh", text: "Oh oh"}}}
    variants:
      C:
        email: {subject: "{{ unclosed "}
        locales:
          FR: {email: {text: "{% if %}"}}
""",
    )
    expected = [
        ":12: templates.hi.variants.B.weight: Input should be greater than or equal to 0",
        ":13: templates.hi.variants.B.email.subjet: unknown key",
        ":14: templates.hi.variants.B.fax: unknown key",
        ":15: templates.hi.variants.B.sms: the template has no sms content for this variant to vary",
        ':17: templates.hi.variants.B.locales.de: the template has no locale "de"',
        ':18: templates.hi.variants.B.locales.fr.sms: locale "fr" of the template has no sms content',
        ":19: templates.hi.variants.bad name: String should match pattern",
        # another template's syntax errors come in the same report
        ":25: templates.ho.variants.C.email.subject: template syntax error",
        ":27: templates.ho.variants.C.locales.FR.email.text: template syntax error",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in found), (text, found)


def test_variants_that_all_weigh_zero_are_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
  hi:
    email: {subject: "Hi", text: "Hello"}
    variants: {A: {weight: 0}, B: {weight: 0}}
""",
    )
    assert any(
        p.startswith(":8: templates.hi.variants: every variant has weight 0; give at least one")
        for p in found
    ), found


# --- test, then send the winner ----------------------------------------------------------------


@given(share=st.integers(1, 90), salt=st.text(max_size=20))
@settings(max_examples=25, deadline=None)
def test_a_test_share_selects_its_percentage_of_recipients_within_tolerance(share: int, salt: str) -> None:
    chosen = sum(in_share(salt, key, share) for key in KEYS)
    assert abs(chosen / len(KEYS) - share / 100) <= TOLERANCE


def test_the_test_group_does_not_follow_the_variant() -> None:
    # Salted apart: among A and B alike, about the same share is in the test group.
    weights = {"A": 50, "B": 50}
    in_test = Counter(assign("c-1", key, weights) for key in KEYS if in_share("c-1:test", key, 20))
    everyone = Counter(assign("c-1", key, weights) for key in KEYS)
    for name in weights:
        assert abs(in_test[name] / everyone[name] - 0.20) <= TOLERANCE


def test_the_best_rate_wins_and_a_tie_goes_to_the_variant_that_reached_more() -> None:
    assert pick({"A": Score(10, 100), "B": Score(15, 100)}) == "B"
    assert pick({"A": Score(10, 100), "B": Score(20, 200)}) == "B"
    assert pick({"A": Score(0, 0), "B": Score(0, 0)}) == "A"
    assert pick({"B": Score(1, 10), "A": Score(1, 10)}) == "A"


@given(st.uuids(), st.integers(min_value=1, max_value=8))
def test_every_recipient_id_falls_in_exactly_one_fan_out_lane(recipient_id: uuid.UUID, count: int) -> None:
    inside = [
        lane
        for lane in range(count)
        if (start := lanes.bounds(lane, count)[0]) is None or start <= recipient_id
        if (end := lanes.bounds(lane, count)[1]) is None or recipient_id < end
    ]
    assert len(inside) == 1


def test_a_paced_campaign_fans_out_in_one_lane_and_is_finished_when_every_lane_is_done() -> None:
    assert lanes.laid_out(paced=True) == {"0": None}
    laid = lanes.laid_out(paced=False)
    assert len(laid) == lanes.LANES and lanes.still_open(laid) == list(range(lanes.LANES))
    almost = {**dict.fromkeys(laid, lanes.DONE), "1": "ab" * 16}
    assert lanes.still_open(almost) == [1] and not lanes.finished(almost)
    assert lanes.finished(dict.fromkeys(laid, lanes.DONE))
