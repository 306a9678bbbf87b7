"""E-mail: queued in the transaction of the change it tells about, sent by the mail
worker (`hub/mail_worker.py`) afterwards, retried with growing pauses, given up (status
`failed`, the reason kept) after the last.

Sending holds no transaction open: a batch is claimed (its next attempt pushed a lease
ahead) and committed, each mail is sent, and each result is recorded in a transaction
of its own. A process that dies meanwhile leaves its claimed mail to be sent again when
the lease ends: a crash between sending and recording can send one mail twice (with the
same Message-ID, which mail clients show once); it never loses one."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from hub.adapters.db.mail_tables import OutgoingMail
from hub.adapters.db.uow import UnitOfWork
from hub.adapters.mail import MailError
from hub.domain.ids import new_id

log = logging.getLogger("hub.mail")

# Minutes to wait after each failed attempt; after the last, the mail has failed.
RETRY_MINUTES = (1, 5, 15, 60, 180, 720)
SEND_BATCH = 50
# How long a claimed mail is left to the process that claimed it.
CLAIM_LEASE = timedelta(minutes=10)


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str, *, message_id: str) -> None: ...


@dataclass(frozen=True)
class ClaimedMail:
    id: uuid.UUID
    to_address: str
    subject: str
    body: str
    attempts: int  # this one included

    @property
    def message_id(self) -> str:
        """The same for every attempt, so a mail sent twice is one message to its reader."""
        return f"<{self.id}@pos-hub>"


def queue(
    uow: UnitOfWork,
    to_address: str,
    subject: str,
    body: str,
    *,
    to_user: uuid.UUID | None = None,
    ref: uuid.UUID | None = None,
) -> None:
    uow.mailbox.add(
        OutgoingMail(
            id=new_id(),
            to_address=to_address,
            to_user=to_user,
            subject=subject[:300],
            body=body,
            ref=ref,
        )
    )


async def send_due(
    open_uow: Callable[[], UnitOfWork], mailer: Mailer, now: datetime
) -> tuple[int, int, bool]:
    """Claim a batch of the mail that is due, send it and record each result:
    (sent, failed attempts, whether a full batch was claimed)."""
    async with open_uow() as uow:
        due = await uow.mailbox.due(now, SEND_BATCH)
        claimed = [ClaimedMail(m.id, m.to_address, m.subject, m.body, m.attempts + 1) for m in due]
        for row in due:  # out of other processes' way until the lease ends
            row.next_attempt_at = now + CLAIM_LEASE
        await uow.commit()
    sent = failed = 0
    for mail in claimed:
        error = None
        try:
            await mailer.send(mail.to_address, mail.subject, mail.body, message_id=mail.message_id)
        except MailError as exc:
            error = str(exc)[:500] or type(exc).__name__
        except Exception as exc:  # one bad message must not hold up the others
            log.warning("mail %s could not be sent", mail.id, exc_info=exc)
            error = f"{type(exc).__name__}: {exc}"[:500]
        async with open_uow() as uow:
            await _record(uow, mail, error, now)
            await uow.commit()
        sent, failed = (sent + 1, failed) if error is None else (sent, failed + 1)
    return sent, failed, len(claimed) == SEND_BATCH


async def _record(uow: UnitOfWork, mail: ClaimedMail, error: str | None, now: datetime) -> None:
    stored = await uow.mailbox.get(mail.id)
    if stored is None:
        return
    stored.attempts = mail.attempts
    if error is None:
        stored.status = "sent"
        stored.sent_at = now
    elif mail.attempts > len(RETRY_MINUTES):
        stored.status = "failed"
        stored.last_error = error
    else:
        stored.last_error = error
        stored.next_attempt_at = now + timedelta(minutes=RETRY_MINUTES[mail.attempts - 1])
