"""Templates: sandboxed, escaped where HTML, strict about missing variables, locale fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from appliance.config.schema import Channel, TemplateConfig
from appliance.errors import RenderError
from appliance.pipeline.compose import template_context
from appliance.rendering import TemplateCatalog, locale_candidates
from appliance.template_uses import sample_data


def catalog(**templates: dict) -> TemplateCatalog:
    compiled, problems = TemplateCatalog.compile(
        {name: TemplateConfig.model_validate(spec) for name, spec in templates.items()}, Path(".")
    )
    assert problems == []
    return compiled


GREETING = {
    "email": {
        "subject": "Hi {{ recipient.name }}",
        "text": "Hello {{ name }}",
        "html": "<p>Hello {{ name }}</p>",
    },
    "sms": {"text": "Hi {{ name }}"},
    "locales": {"fr": {"sms": {"text": "Salut {{ name }}"}}, "pt-BR": {"sms": {"text": "Oi {{ name }}"}}},
}


@given(st.text(max_size=40))
def test_html_bodies_escape_data_and_text_bodies_keep_it(name: str) -> None:
    fields = catalog(greeting=GREETING).render(
        "greeting", Channel.EMAIL, None, {"name": name, "recipient": {"name": "x"}}
    )
    assert fields["text"] == f"Hello {name}"
    assert fields["html"] == f"<p>Hello {escape(name)}</p>"


def test_html_escapes_markup_in_data() -> None:
    fields = catalog(greeting=GREETING).render(
        "greeting", Channel.EMAIL, None, {"name": "<script>x</script>", "recipient": {"name": "A"}}
    )
    assert fields["html"] == "<p>Hello &lt;script&gt;x&lt;/script&gt;</p>"
    assert fields["text"] == "Hello <script>x</script>"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr-CA", "Salut Ana"),
        ("fr", "Salut Ana"),
        ("pt_BR", "Oi Ana"),
        ("pt-PT", "Hi Ana"),
        ("de", "Hi Ana"),
        (None, "Hi Ana"),
    ],
)
def test_the_closest_locale_wins(locale: str | None, expected: str) -> None:
    assert (
        catalog(greeting=GREETING).render("greeting", Channel.SMS, locale, {"name": "Ana"})["text"]
        == expected
    )


def test_locale_candidates_go_from_specific_to_default() -> None:
    assert list(locale_candidates("zh-Hant-TW")) == ["zh-hant-tw", "zh-hant", "zh", None]


def test_a_missing_variable_is_a_render_error_naming_it() -> None:
    with pytest.raises(RenderError, match="'name' is undefined"):
        catalog(greeting=GREETING).render("greeting", Channel.SMS, None, {})


def test_the_sandbox_refuses_unsafe_attribute_access() -> None:
    evil = catalog(evil={"sms": {"text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}})
    with pytest.raises(RenderError, match="unsafe"):
        evil.render("evil", Channel.SMS, None, {})


def test_a_render_error_names_the_channel_field_and_line() -> None:
    letter = {"email": {"subject": "Hi", "text": "Dear {{ recipient.name }},\n\nYour code:\n{{ code }}\n"}}
    with pytest.raises(RenderError, match=r"\(email, text, line 4\): 'code' is undefined"):
        catalog(letter=letter).render("letter", Channel.EMAIL, None, {"recipient": {"name": "Ada"}})


def test_what_a_template_reads_is_gathered_over_its_locales_and_variants() -> None:
    spec = {
        **GREETING,
        "variants": {
            "A": {"weight": 1},
            "B": {"sms": {"text": "{{ data.coupon }} {% for i in items %}{{ i }}{% endfor %}"}},
        },
    }
    uses = catalog(greeting=spec).uses("greeting")
    assert uses.data == {"name", "coupon", "items"} and uses.recipient == {"name"} and uses.lists == {"items"}


_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else", "for", "recursive", "true", "false", "none"}
identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda name: name not in _KEYWORDS)
names = st.lists(identifiers, min_size=1, max_size=4, unique=True)


@given(names, names, names)
def test_sample_data_fills_every_name_a_template_reads(
    top: list[str], fields: list[str], loops: list[str]
) -> None:
    """The preview's made-up data renders any template without an undefined name."""
    text = " ".join(
        [*(f"{{{{ {n} }}}}" for n in top), *(f"{{{{ recipient.{f} }}}}" for f in fields)]
        + [f"{{% for x in {n} %}}{{{{ x }}}}{{% endfor %}}" for n in loops]
    )
    templates = catalog(t={"sms": {"text": text}})
    sample = sample_data(templates.uses("t"))
    recipient = sample.pop("recipient")
    templates.render("t", Channel.SMS, None, template_context(sample, recipient, {}))
