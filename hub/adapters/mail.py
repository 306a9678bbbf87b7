"""Sending e-mail over SMTP (aiosmtplib). `POS_SMTP_URL` says where:

smtp://[user:password@]host[:port]       plain, upgraded with STARTTLS when offered
smtp://…?starttls=false                  never STARTTLS (a local relay)
smtps://[user:password@]host[:port]      TLS from the first byte (port 465)
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib


class MailError(Exception):
    """The server refused the message or could not be reached (the reason is the text)."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None  # None: when the server offers it

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("POS_SMTP_URL is smtp://host[:port] or smtps://host[:port]")
        implicit = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        start_tls: bool | None = None
        if "starttls" in query:
            start_tls = query["starttls"][0].lower() in ("1", "true", "yes")
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            start_tls=False if implicit else start_tls,
        )


def header_value(text: str) -> str:
    """One line: a line break in a header value would end the header (or let text
    forge another), and the email package refuses it."""
    return " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in text).split())


class SmtpMailer:
    def __init__(self, server: SmtpServer, sender: str, *, timeout: float = 20.0) -> None:
        self._server = server
        self._sender = sender
        self._timeout = timeout

    async def send(self, to: str, subject: str, body: str, *, message_id: str) -> None:
        try:
            message = EmailMessage()
            message["From"] = header_value(self._sender)
            message["To"] = header_value(to)
            message["Subject"] = header_value(subject)
            message["Message-ID"] = header_value(message_id)
            message.set_content(body)
        except (ValueError, TypeError) as exc:  # a message that cannot be built
            raise MailError(f"cannot build the message: {exc}") from exc
        server = self._server
        try:
            await aiosmtplib.send(
                message,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(str(exc) or type(exc).__name__) from exc
