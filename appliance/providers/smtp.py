"""`smtp`: email through any SMTP relay (Postfix, SES, Mailgun, a corporate Exchange...).

One connection per send: it keeps the provider stateless, and a relay that drops idle
connections can never leave us holding a dead one.

With a `dkim:` block, each message is DKIM-signed (dkimpy, rsa-sha256, relaxed/relaxed) before it
is submitted, for relays that do not sign for you.

aiosmtplib and dkimpy are imported where they are first used: a scaled API replica loads this
module to check the options, and sends nothing (docs/benchmarks.md, G6).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from email import policy
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from .base import EmailMessage, Message, Outcome, Provider, ProviderOptions

if TYPE_CHECKING:
    import aiosmtplib

# Set by the provider from the message itself; a template header must not fight them.
_STRUCTURAL_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
# RFC 5322 field names: printable ASCII except the colon. The email package checks values only.
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# RFC 3463 enhanced status codes: class 5, subject 1 means "bad destination address".
_BAD_ADDRESS = re.compile(r"^\s*5\.1\.\d{1,3}\b")
# The headers a DKIM signature covers unless configured: what a reader sees and what unsubscribes.
# One absent when signing (Reply-To, say) is signed as absent, so it cannot be added later either.
DKIM_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}$")
_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$")
_MIN_DKIM_KEY_BITS = 1024  # RFC 8301: verifiers must not accept shorter RSA keys


class DkimOptions(ProviderOptions):
    """`dkim:` of an smtp provider: sign as `domain` with the key published at `selector._domainkey`."""

    # A rejected private_key must not be echoed in the error (pydantic quotes rejected input).
    model_config = ConfigDict(hide_input_in_errors=True)
    domain: str
    selector: str
    private_key_file: str | None = None
    private_key: SecretStr | None = None
    headers: list[str] = Field(default_factory=lambda: list(DKIM_HEADERS))

    @field_validator("domain")
    @classmethod
    def _domain_is_a_host_name(cls, domain: str) -> str:
        if not _DOMAIN.fullmatch(domain):
            raise ValueError("must be a domain name like example.com (the d= of the signature)")
        return domain.lower()

    @field_validator("selector")
    @classmethod
    def _selector_is_a_label(cls, selector: str) -> str:
        if not _SELECTOR.fullmatch(selector):
            raise ValueError(
                "must be a DNS label like mail2025 (the key is at <selector>._domainkey.<domain>)"
            )
        return selector

    @field_validator("headers")
    @classmethod
    def _headers_can_be_signed(cls, headers: list[str]) -> list[str]:
        import dkim

        if not any(name.lower() == "from" for name in headers):
            raise ValueError("must include From: DKIM always signs the From header")
        for name in headers:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower().encode() in dkim.DKIM.SHOULD_NOT:
                raise ValueError(f"{name} must not be signed: relays add or change it in transit")
        return headers

    @field_validator("private_key")
    @classmethod
    def _private_key_is_usable(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            check_dkim_key(key.get_secret_value().encode())
        return key

    @model_validator(mode="after")
    def _one_key(self) -> DkimOptions:
        if (self.private_key is None) == (self.private_key_file is None):
            raise ValueError("set exactly one of private_key_file and private_key")
        return self


class SmtpOptions(ProviderOptions):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, hide_input_in_errors=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = Field(alias="from")
    reply_to: str | None = None
    validate_certs: bool = True
    ca_file: str | None = None
    dkim: DkimOptions | None = None

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

    _dkim_key: bytes | None = None

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, EmailMessage):
            return Outcome.permanent(f"smtp cannot send {message.channel} messages, only email")
        try:
            mime = build_message(message, self.options)
        except ValueError as exc:  # header injection, unparsable address, no body
            return Outcome.permanent(f"cannot build the email: {exc}")
        # As aiosmtplib decides: only a non-ASCII address (not a display name) needs SMTPUTF8.
        utf8 = not f"{_envelope_sender(self.options.from_address)}{_addr_spec(message.to)}".isascii()
        mail_options = ["SMTPUTF8"] if utf8 else []
        if self.options.dkim is None:
            content = mime.as_bytes(policy=wire_policy(utf8))
        else:
            import dkim

            try:
                # Hashing a large body and an RSA signature are CPU work: keep them off the event loop.
                content = await asyncio.to_thread(self._signed, mime, self.options.dkim, utf8=utf8)
            except (ValueError, dkim.DKIMException) as exc:
                return Outcome.permanent(f"cannot DKIM-sign the email: {exc}")
        try:
            async with asyncio.timeout(self.context.timeout.total_seconds()):
                await self._submit(content, message.to, mail_options)
        except Exception as exc:
            return self._redact(classify(exc))
        return Outcome.sent(str(mime["Message-ID"]))  # its text, not the header object

    def _signed(self, mime: MimeMessage, options: DkimOptions, *, utf8: bool) -> bytes:
        if self._dkim_key is None:
            self._dkim_key = dkim_key(options)
        return dkim_sign(mime, options, self._dkim_key, utf8=utf8)

    async def _submit(self, content: bytes, to: str, mail_options: list[str]) -> None:
        import aiosmtplib

        options = self.options
        await aiosmtplib.send(
            content,
            sender=_envelope_sender(options.from_address),
            recipients=[_addr_spec(to)],
            mail_options=mail_options,
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


def wire_policy(utf8: bool) -> policy.EmailPolicy:
    """7-bit bodies, and header lines up to RFC 5322's 998 characters: folding at 78 would turn a
    long unbreakable URL (List-Unsubscribe) into RFC 2047 encoded words that mail clients ignore."""
    return (policy.SMTPUTF8 if utf8 else policy.SMTP).clone(cte_type="7bit", max_line_length=998)


def dkim_sign(mime: MimeMessage, options: DkimOptions, private_key: bytes, *, utf8: bool = False) -> bytes:
    """The message as it goes on the wire, with a DKIM-Signature header first.

    Bodies are flattened to 7-bit (quoted-printable or base64), as RFC 6376 §5.3 advises: a relay
    that downgrades 8-bit content for a next hop would otherwise break the body hash.
    """
    import dkim

    raw = mime.as_bytes(policy=wire_policy(utf8))
    signature = dkim.sign(
        raw,
        options.selector.encode(),
        options.domain.encode(),
        private_key,
        canonicalize=(b"relaxed", b"relaxed"),
        signature_algorithm=b"rsa-sha256",
        include_headers=[name.lower().encode() for name in options.headers],
        linesep=b"\r\n",
    )
    return signature + raw


def dkim_key(options: DkimOptions) -> bytes:
    """The PEM private key, read from `private_key_file` (at the first send) or given inline."""
    if options.private_key is not None:
        return _pem(options.private_key.get_secret_value().encode())
    assert options.private_key_file is not None  # one of the two, by validation
    try:
        pem = Path(options.private_key_file).read_bytes()
    except OSError as exc:
        raise ValueError(
            f"cannot read dkim.private_key_file {options.private_key_file}: {exc.strerror}"
        ) from exc
    try:
        return check_dkim_key(pem)
    except ValueError as exc:
        raise ValueError(f"dkim.private_key_file {options.private_key_file}: {exc}") from exc


def check_dkim_key(pem: bytes) -> bytes:
    """The key, normalised for dkimpy, if it is an unencrypted RSA private key of at least 1024 bits."""
    import dkim.crypto

    pem = _pem(pem)
    try:
        key = dkim.crypto.parse_pem_private_key(pem)
    except Exception as exc:  # dkimpy's ASN.1 parser raises several kinds on malformed input
        raise ValueError(
            f"not a usable DKIM key ({' '.join(str(exc).split())}); "
            "it must be an unencrypted RSA private key in PEM, "
            "e.g. made with: openssl genrsa -out dkim.pem 2048"
        ) from None
    bits = key["modulus"].bit_length()
    if bits < _MIN_DKIM_KEY_BITS:
        raise ValueError(f"the RSA key has {bits} bits; receivers refuse DKIM keys under 1024 (use 2048)")
    return pem


def _pem(pem: bytes) -> bytes:
    return pem.replace(b"\r\n", b"\n").strip() + b"\n"


def classify(exc: BaseException) -> Outcome:
    """Sort an aiosmtplib failure by what the delivery engine should do next."""
    import aiosmtplib

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
