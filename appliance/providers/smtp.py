"""`smtp`: email through any SMTP relay (Postfix, SES, Mailgun, a corporate Exchange...).

One connection per send: it keeps the provider stateless, and a relay that drops idle
connections can never leave us holding a dead one.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import ClassVar, Literal

import aiosmtplib
from pydantic import ConfigDict, Field, SecretStr, model_validator

from .base import EmailMessage, Message, Outcome, Provider, ProviderOptions

# Set by the provider from the message itself; a template header must not fight them.
_STRUCTURAL_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
# RFC 5322 field names: printable ASCII except the colon. The email package checks values only.
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# RFC 3463 enhanced status codes: class 5, subject 1 means "bad destination address".
_BAD_ADDRESS = re.compile(r"^\s*5\.1\.\d{1,3}\b")


class SmtpOptions(ProviderOptions):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = Field(alias="from")
    reply_to: str | None = None
    validate_certs: bool = True
    ca_file: str | None = None

    @model_validator(mode="after")
    def _credentials_come_in_pairs(self) -> SmtpOptions:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        return self

    @model_validator(mode="after")
    def _from_is_one_address(self) -> SmtpOptions:
        if _envelope_sender(self.from_address) is None:
            raise ValueError('"from" must be one address like "Clarion <no-reply@example.com>"')
        return self


class SmtpProvider(Provider):
    type_name: ClassVar[str] = "smtp"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    Options: ClassVar[type[ProviderOptions]] = SmtpOptions

    options: SmtpOptions

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, EmailMessage):
            return Outcome.permanent(f"smtp cannot send {message.channel} messages, only email")
        try:
            mime = build_message(message, self.options)
        except ValueError as exc:  # header injection, unparsable address, no body
            return Outcome.permanent(f"cannot build the email: {exc}")
        try:
            async with asyncio.timeout(self.context.timeout.total_seconds()):
                await self._submit(mime, message.to)
        except Exception as exc:
            return self._redact(classify(exc))
        return Outcome.sent(mime["Message-ID"])

    async def _submit(self, mime: MimeMessage, to: str) -> None:
        options = self.options
        await aiosmtplib.send(
            mime,
            sender=_envelope_sender(options.from_address),
            recipients=[_addr_spec(to)],
            hostname=options.host,
            port=options.port,
            username=options.username,
            password=options.password.get_secret_value() if options.password else None,
            use_tls=options.security == "ssl",
            start_tls=options.security == "starttls",
            validate_certs=options.validate_certs,
            cert_bundle=options.ca_file,
            timeout=self.context.timeout.total_seconds(),
        )

    def _redact(self, outcome: Outcome) -> Outcome:
        """A chatty relay may echo what we sent; the password must never reach logs or the UI."""
        password = self.options.password.get_secret_value() if self.options.password else ""
        if not password or outcome.error is None or password not in outcome.error:
            return outcome
        return Outcome(outcome.kind, error=outcome.error.replace(password, "**********"))


def build_message(message: EmailMessage, options: SmtpOptions) -> MimeMessage:
    """A multipart/alternative email when both bodies exist, a single part otherwise."""
    if message.text is None and message.html is None:
        raise ValueError("the message has neither a text nor an HTML body")
    mime = MimeMessage()
    mime["From"] = options.from_address
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = make_msgid(domain=_domain(options.from_address))
    if options.reply_to:
        mime["Reply-To"] = options.reply_to
    if message.text is not None:
        mime.set_content(message.text)
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html")
    else:
        mime.set_content(message.html, subtype="html")
    for name, value in message.headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if name.lower() in _STRUCTURAL_HEADERS:
            raise ValueError(f"header {name} is set from the message bodies; remove it from the template")
        del mime[name]  # a template's Reply-To (say) replaces the configured one
        mime[name] = value
    return mime


def classify(exc: BaseException) -> Outcome:
    """Sort an aiosmtplib failure by what the delivery engine should do next."""
    if (untrusted := _certificate_error(exc)) is not None:
        return Outcome.permanent(
            f"the relay's TLS certificate is not trusted ({untrusted.verify_message}); "
            "set ca_file to its CA bundle, or validate_certs: false for a test relay"
        )
    match exc:
        case aiosmtplib.SMTPRecipientsRefused(recipients=[first, *_]):
            return _refused_recipient(first)
        case aiosmtplib.SMTPRecipientRefused():
            return _refused_recipient(exc)
        case aiosmtplib.SMTPAuthenticationError(code=code) if code >= 500:
            return Outcome.permanent(
                f"the relay refused our credentials ({_reply(exc)}); check username/password"
            )
        case aiosmtplib.SMTPConnectResponseError():
            return Outcome.retryable(f"the relay refused the connection: {_reply(exc)}")
        case aiosmtplib.SMTPResponseException(code=code) if code >= 500:
            return Outcome.permanent(f"the relay rejected the message: {_reply(exc)}")
        case aiosmtplib.SMTPResponseException():
            return Outcome.retryable(f"the relay deferred the message: {_reply(exc)}")
        case aiosmtplib.SMTPNotSupported():
            return Outcome.permanent(f"the relay does not support what we asked: {exc}; check security/port")
        case TimeoutError():
            return Outcome.retryable(f"the relay did not answer in time: {type(exc).__name__} {exc}".strip())
        case aiosmtplib.SMTPException() | OSError():
            return Outcome.retryable(f"cannot reach the relay: {type(exc).__name__}: {exc}")
    return Outcome.retryable(f"unexpected SMTP failure: {type(exc).__name__}: {exc}")


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """aiosmtplib wraps a failed handshake in SMTPConnectError; the cause says why."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _refused_recipient(refusal: aiosmtplib.SMTPRecipientRefused) -> Outcome:
    reply = f"{refusal.recipient}: {_reply(refusal)}"
    if refusal.code < 500:
        return Outcome.retryable(f"the relay deferred the recipient {reply}")
    if _BAD_ADDRESS.match(refusal.message):
        return Outcome.invalid_recipient(f"the relay says the address does not exist {reply}")
    # A bare 550 also means "relaying denied" or "policy": the address may well be fine.
    return Outcome.permanent(f"the relay refused the recipient {reply}")


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}"


def _envelope_sender(from_address: str) -> str | None:
    addresses = [address for _name, address in getaddresses([from_address]) if address]
    return addresses[0] if len(addresses) == 1 and "@" in addresses[0] else None


def _addr_spec(to: str) -> str:
    """ "Alice <alice@example.org>" → "alice@example.org": RCPT TO takes the bare address."""
    return next((address for _name, address in getaddresses([to]) if address), to)


def _domain(from_address: str) -> str | None:
    sender = _envelope_sender(from_address)
    return sender.rpartition("@")[2] if sender else None
