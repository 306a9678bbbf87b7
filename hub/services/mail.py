"""E-mail: queued in the transaction of the change it tells about, sent by the mail
worker (`hub/mail_worker.py`) afterwards, retried with growing pauses, given up (status
`failed`, the reason kept) after the last. A crash between sending and recording the
send can send one mail twice; it never loses one."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Protocol

from hub.adapters.db.mail_tables import OutgoingMail
from hub.adapters.db.uow import UnitOfWork
from hub.adapters.mail import MailError
from hub.domain.ids import new_id

# Minutes to wait after each failed attempt; after the last, the mail has failed.
RETRY_MINUTES = (1, 5, 15, 60, 180, 720)
SEND_BATCH = 50


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


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


async def send_due(uow: UnitOfWork, mailer: Mailer, now: datetime) -> tuple[int, int]:
    """Send a batch of the mail that is due and commit: (sent, failed attempts)."""
    sent = failed = 0
    for mail in await uow.mailbox.due(now, SEND_BATCH):
        try:
            await mailer.send(mail.to_address, mail.subject, mail.body)
        except MailError as exc:
            failed += 1
            mail.attempts += 1
            mail.last_error = str(exc)[:500]
            if mail.attempts > len(RETRY_MINUTES):
                mail.status = "failed"
            else:
                mail.next_attempt_at = now + timedelta(minutes=RETRY_MINUTES[mail.attempts - 1])
            continue
        sent += 1
        mail.attempts += 1
        mail.status = "sent"
        mail.sent_at = now
    await uow.commit()
    return sent, failed
