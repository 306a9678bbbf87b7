"""Task e-mail through a real SMTP server (aiosmtpd, in-process): queued with the change,
sent by the mail worker, retried when the server is away, never queued without SMTP."""

from __future__ import annotations

import asyncio
import email
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.adapters.mail import SmtpMailer, SmtpServer
from hub.mail_worker import MailWorker
from hub.services import mail
from hub.settings import Settings
from tests.conftest import free_port, make_settings
from tests.helpers import TenantKit, build_tenant

TASKS = "/api/tasks/tasks/"


class Inbox:
    """An SMTP server's handler: every message it accepted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def settings_overrides(smtp: tuple[Inbox, int]) -> dict[str, Any]:
    return {"smtp_url": f"smtp://127.0.0.1:{smtp[1]}?starttls=false", "mail_seconds": 3600}


@pytest.fixture
def settings(
    store: str, tmp_path: Any, request: pytest.FixtureRequest, settings_overrides: dict[str, Any]
) -> Settings:
    url = request.getfixturevalue("pg_database_url") if store == "postgres" else ""
    return make_settings(tmp_path, url, **settings_overrides)


class TenantMail:
    """The mail worker's pass over one tenant (the tests' tenants share PostgreSQL)."""

    def __init__(self, client: httpx.AsyncClient, port: int, tenant: uuid.UUID) -> None:
        mailer = SmtpMailer(
            SmtpServer.from_url(f"smtp://127.0.0.1:{port}?starttls=false"),
            "POS <pos@example.com>",
        )
        self._worker = MailWorker(client.app.state.deps.db, mailer, every_seconds=3600)  # type: ignore[attr-defined]
        self._tenant = tenant

    async def send_due(self, now: datetime | None = None) -> tuple[int, int]:
        return await self._worker.send_tenant(self._tenant, now)


def worker(client: httpx.AsyncClient, port: int, kit: TenantKit) -> TenantMail:
    return TenantMail(client, port, uuid.UUID(kit.tenant_id))


async def with_email(client: httpx.AsyncClient, kit: TenantKit, role: str, address: str) -> None:
    response = await client.patch(
        f"/api/users/users/{kit.members[role].id}/",
        json={"email": address},
        headers=kit.token("owner"),
    )
    assert response.status_code == 200, response.text


async def queued_task_mail(client: httpx.AsyncClient, kit: TenantKit) -> str:
    await with_email(client, kit, "cashier", "anna@example.com")
    made = await client.post(
        TASKS,
        json={
            "title": "Check the scales",
            "shop": kit.shop_id,
            "assignee": kit.members["cashier"].id,
        },
        headers=kit.token("manager"),
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def mails_about(client: httpx.AsyncClient, kit: TenantKit, task_id: str) -> list[Any]:
    async with UnitOfWork(client.app.state.deps.db, uuid.UUID(kit.tenant_id)) as uow:  # type: ignore[attr-defined]
        return await uow.mailbox.about(uuid.UUID(task_id))


async def test_the_assignee_gets_an_email_and_the_reviewer_one_on_submit(
    client: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    kit = await build_tenant(client)
    await with_email(client, kit, "cashier", "anna@example.com")
    await with_email(client, kit, "manager", "boss@example.com")
    made = await client.post(
        TASKS,
        json={
            "title": "Restock tea",
            "shop": kit.shop_id,
            "assignee": kit.members["cashier"].id,
            "description": "Aisle 3",
        },
        headers=kit.token("manager"),
    )
    task = made.json()
    assert inbox.messages == []  # queued, not yet sent
    assert await worker(client, port, kit).send_due() == (1, 0)
    (first,) = inbox.messages
    assert first["To"] == "anna@example.com"
    assert first["From"] == "POS <pos@example.com>"
    assert "Restock tea" in first["Subject"]
    assert "Aisle 3" in first.get_payload(decode=True).decode()
    (queued,) = await mails_about(client, kit, task["id"])
    assert first["Message-ID"] == f"<{queued.id}@pos-hub>"  # the same on every attempt

    for status in ("in_progress", "on_review"):
        moved = await client.post(
            f"{TASKS}{task['id']}/status/", json={"status": status}, headers=kit.token("cashier")
        )
        assert moved.status_code == 200, moved.text
    assert await worker(client, port, kit).send_due() == (1, 0)
    # Starting is not mailed; waiting for review is, to the manager who made the task.
    assert [m["To"] for m in inbox.messages[1:]] == ["boss@example.com"]
    assert "на проверке" in str(
        email.header.make_header(email.header.decode_header(inbox.messages[1]["Subject"]))
    )
    assert await worker(client, port, kit).send_due() == (0, 0)  # nothing twice
    # Accepted: the cashier hears of it.
    accepted = await client.post(
        f"{TASKS}{task['id']}/status/", json={"status": "done"}, headers=kit.token("manager")
    )
    assert accepted.status_code == 200, accepted.text
    assert await worker(client, port, kit).send_due() == (1, 0)
    assert inbox.messages[-1]["To"] == "anna@example.com"
    statuses = {m.status for m in await mails_about(client, kit, task["id"])}
    assert statuses == {"sent"}


async def test_a_role_task_mails_everyone_of_the_role_with_an_address(
    client: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    kit = await build_tenant(client)
    await with_email(client, kit, "stockkeeper", "stock@example.com")
    await client.post(
        TASKS,
        json={"title": "Count the stock room", "shop": kit.shop_id, "assignee_role": "stockkeeper"},
        headers=kit.token("manager"),
    )
    # The cashier has no address and is not of the role: no mail either way.
    await client.post(
        TASKS,
        json={"title": "Tidy the till", "shop": kit.shop_id, "assignee": kit.members["cashier"].id},
        headers=kit.token("manager"),
    )
    await worker(client, port, kit).send_due()
    assert [m["To"] for m in inbox.messages] == ["stock@example.com"]


async def test_an_unreachable_server_is_retried_later_then_given_up(
    client: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    kit = await build_tenant(client)
    task_id = await queued_task_mail(client, kit)
    closed = worker(client, free_port(), kit)  # nothing listens there
    assert await closed.send_due() == (0, 1)
    (queued,) = await mails_about(client, kit, task_id)
    assert (queued.status, queued.attempts) == ("pending", 1)
    assert queued.last_error
    # Not again before its pause is over; then sent by a worker that reaches the server.
    assert await closed.send_due() == (0, 0)
    later = utcnow() + timedelta(minutes=mail.RETRY_MINUTES[0] + 1)
    assert await worker(client, port, kit).send_due(later) == (1, 0)
    assert [m["Subject"] for m in inbox.messages] == [inbox.messages[0]["Subject"]]
    # A mail that fails every attempt ends as failed, its reason kept.
    await client.post(
        f"{TASKS}{task_id}/status/", json={"status": "cancelled"}, headers=kit.token("manager")
    )
    when = utcnow()
    for pause in mail.RETRY_MINUTES:
        await closed.send_due(when)
        when += timedelta(minutes=pause + 1)
    await closed.send_due(when)
    failed = [m for m in await mails_about(client, kit, task_id) if m.status == "failed"]
    assert len(failed) == 1
    assert failed[0].attempts == len(mail.RETRY_MINUTES) + 1


@pytest.mark.parametrize("settings_overrides", [{}])
async def test_without_smtp_nothing_is_queued(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    await with_email(client, kit, "cashier", "anna@example.com")
    made = await client.post(
        TASKS,
        json={"title": "Quiet", "shop": kit.shop_id, "assignee": kit.members["cashier"].id},
        headers=kit.token("manager"),
    )
    assert await mails_about(client, kit, made.json()["id"]) == []
    assert client.app.state.mail_worker is None  # type: ignore[attr-defined]


def test_smtp_urls() -> None:
    plain = SmtpServer.from_url("smtp://relay.local")
    assert (plain.host, plain.port, plain.use_tls, plain.start_tls) == (
        "relay.local",
        25,
        False,
        None,
    )
    secure = SmtpServer.from_url("smtps://me%40x.ru:p%40ss@smtp.x.ru")
    assert (secure.port, secure.use_tls, secure.username, secure.password) == (
        465,
        True,
        "me@x.ru",
        "p@ss",
    )
    assert SmtpServer.from_url("smtp://h:2525?starttls=true").start_tls is True
    with pytest.raises(ValueError):
        SmtpServer.from_url("http://h")


class Died(BaseException):
    """The process ends in the middle of sending (nothing after it runs)."""


class DyingMailer:
    async def send(self, to: str, subject: str, body: str, *, message_id: str) -> None:
        raise Died()


async def test_mail_claimed_by_a_process_that_died_is_sent_once_its_lease_is_over(
    client: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    kit = await build_tenant(client)
    task_id = await queued_task_mail(client, kit)
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    tenant = uuid.UUID(kit.tenant_id)
    with pytest.raises(Died):
        await mail.send_due(lambda: UnitOfWork(db, tenant, write=True), DyingMailer(), utcnow())
    # Claimed, not recorded: other processes leave it alone until the lease is over...
    assert await worker(client, port, kit).send_due() == (0, 0)
    assert inbox.messages == []
    # ...then one of them sends it.
    after = utcnow() + mail.CLAIM_LEASE + timedelta(seconds=1)
    assert await worker(client, port, kit).send_due(after) == (1, 0)
    (sent,) = await mails_about(client, kit, task_id)
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert [m["Message-ID"] for m in inbox.messages] == [f"<{sent.id}@pos-hub>"]


@pytest.mark.usefixtures("smtp")
async def test_no_transaction_is_open_while_the_mail_server_answers(
    client: httpx.AsyncClient,
) -> None:
    """On SQLite an open writing transaction would lock the tenant's whole store (its
    sales too) for as long as the mail server takes; the mailer here writes to the
    tenant's store while it "sends" and would wait for that lock."""
    kit = await build_tenant(client)
    await queued_task_mail(client, kit)
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    tenant = uuid.UUID(kit.tenant_id)
    wrote: list[str] = []

    class WritingMailer:
        async def send(self, to: str, subject: str, body: str, *, message_id: str) -> None:
            async def write() -> None:
                async with UnitOfWork(db, tenant, write=True) as uow:
                    await uow.tenants.put_setting("mail_probe", to)
                    await uow.commit()

            await asyncio.wait_for(write(), 5)
            wrote.append(to)

    sent = await mail.send_due(
        lambda: UnitOfWork(db, tenant, write=True), WritingMailer(), utcnow()
    )
    assert sent == (1, 0, False)
    assert wrote == ["anna@example.com"]


async def test_a_title_with_a_line_break_is_refused(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    made = await client.post(
        TASKS,
        json={"title": "poison A\r\nX-Evil: 1", "shop": kit.shop_id},
        headers=kit.token("manager"),
    )
    assert made.status_code == 400, made.text
    assert "title" in made.json()["error"]["fields"]


async def queue_mail(client: httpx.AsyncClient, kit: TenantKit, subjects: list[str]) -> None:
    """Mail queued as older versions (or other paths) may have left it: any subject."""
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    async with UnitOfWork(db, uuid.UUID(kit.tenant_id), write=True) as uow:
        for subject in subjects:
            mail.queue(uow, "anna@example.com", subject, "body\n")
        await uow.commit()


async def test_a_subject_with_line_breaks_is_sent_on_one_line(
    client: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    kit = await build_tenant(client)
    await queue_mail(client, kit, ["poison A\r\nX-Evil: 1", "plain B"])
    assert await worker(client, port, kit).send_due() == (2, 0)
    assert sorted(m["Subject"] for m in inbox.messages) == ["plain B", "poison A X-Evil: 1"]
    assert all(m["X-Evil"] is None for m in inbox.messages)


async def test_a_message_that_fails_unexpectedly_fails_alone(
    client: httpx.AsyncClient, smtp: tuple[Inbox, int]
) -> None:
    """Not a MailError (a bug, a message that cannot be built): that mail's attempt is
    counted and its reason kept, and the mail beside it is sent."""
    inbox, port = smtp
    kit = await build_tenant(client)
    await queue_mail(client, kit, ["breaks", "fine"])
    real = SmtpMailer(
        SmtpServer.from_url(f"smtp://127.0.0.1:{port}?starttls=false"), "POS <pos@x.ru>"
    )

    class Picky:
        async def send(self, to: str, subject: str, body: str, *, message_id: str) -> None:
            if subject == "breaks":
                raise RuntimeError("cannot build this one")
            await real.send(to, subject, body, message_id=message_id)

    db = client.app.state.deps.db  # type: ignore[attr-defined]
    tenant = uuid.UUID(kit.tenant_id)
    now = utcnow()
    result = await mail.send_due(lambda: UnitOfWork(db, tenant, write=True), Picky(), now)
    assert result == (1, 1, False)
    assert [m["Subject"] for m in inbox.messages] == ["fine"]
    async with UnitOfWork(db, tenant) as uow:
        rows = {m.subject: m for m in await uow.mailbox.due(now + timedelta(days=1), 10)}
    assert set(rows) == {"breaks"}
    broken = rows["breaks"]
    assert (broken.status, broken.attempts) == ("pending", 1)
    assert "cannot build this one" in (broken.last_error or "")
    assert broken.next_attempt_at == now + timedelta(minutes=mail.RETRY_MINUTES[0])
