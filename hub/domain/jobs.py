"""Edge-agent jobs in plain Python: their kinds, statuses and the transitions between them.

    pending ──done──▶ done            (final)
       │
       └──failed──▶ failed ──retry──▶ pending

A report is idempotent: the agent may send the same outcome with the same result again
(after an outage its outbox replays it) and nothing changes. Any other report on a
finished job contradicts it (`job_finished`): the first outcome stands. `attempts` counts
the outcomes reported, so a job that failed twice and was retried twice shows 2.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from hub.domain.errors import Conflict
from protocol.errors import ErrorCode


class JobKind(StrEnum):
    RECEIPT = "receipt"  # print the receipt of a sale and fiscalise it
    OPEN_DRAWER = "open_drawer"  # open the cash drawer without a sale (a reason is kept)
    DISPLAY = "display"  # show lines on the customer display


# The kinds staff ask for at a till; receipts come only from sales.
REQUESTED_KINDS = (JobKind.OPEN_DRAWER, JobKind.DISPLAY)


class JobStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class JobFinished(Conflict):
    """The job already has another outcome."""

    code = ErrorCode.JOB_FINISHED


def accepts_report(
    status: JobStatus, outcome: JobStatus, stored: Any | None, reported: Any | None
) -> bool:
    """Whether a report of `outcome` (with `reported` as its result) changes the job.

    False for a repeat of the outcome already recorded; JobFinished when it contradicts
    a finished job."""
    if outcome is JobStatus.PENDING:
        raise ValueError("an outcome is done or failed")
    if status is JobStatus.PENDING:
        return True
    if status is outcome and stored == reported:
        return False
    if status is outcome:
        raise JobFinished(
            f"the job is already {status.value} with another result",
            fields={"status": status.value},
        )
    raise JobFinished(f"the job is already {status.value}", fields={"status": status.value})


class JobTaken(Conflict):
    """Another agent of the shop has the job."""

    code = ErrorCode.JOB_TAKEN


def claims(
    status: JobStatus,
    given_to: uuid.UUID | None,
    agent: uuid.UUID,
    routed_to: uuid.UUID | None = None,
) -> bool:
    """Whether `agent`'s claim gives it the job: yes for a pending job given to no agent
    (it becomes the agent's), no change for one already its own; JobTaken when another
    agent has it, or when `route` would now give it to another agent (`routed_to`: one
    whose devices serve the job's till, where the claimant's do not: the claimant would
    print the receipt without fiscalising it), JobFinished when it is no longer
    pending. So at most one agent ever works (prints, fiscalises) a job, and the right
    one."""
    if status is not JobStatus.PENDING:
        raise JobFinished(f"the job is already {status.value}", fields={"status": status.value})
    if given_to is None and routed_to not in (None, agent):
        raise JobTaken(
            "another agent of the shop drives the devices this job needs",
            fields={"device": str(routed_to)},
        )
    if given_to is None:
        return True
    if given_to == agent:
        return False
    raise JobTaken("another agent of the shop has the job")


# A started job of a revoked agent is held for a person, failed with this code: only
# that agent's register can say whether the receipt was registered, and another agent
# would register it again. A manager checks the register, then retries (another agent
# makes it) or leaves it.
AGENT_REVOKED = "agent_revoked"


def revoked_result() -> dict[str, Any]:
    """The outcome of a job held when its agent was revoked after starting it."""
    return {
        "error": "the agent was revoked after it started this job: its register may hold"
        " the receipt; check it before retrying",
        "code": AGENT_REVOKED,
    }


def accepts_retry(status: JobStatus) -> bool:
    """Whether a retry puts the job back in the queue: yes for a failed job; a pending
    job is already there (a repeated retry changes nothing); a done job is final."""
    if status is JobStatus.FAILED:
        return True
    if status is JobStatus.PENDING:
        return False
    raise JobFinished("the job is done; there is nothing to retry", fields={"status": "done"})


# The devices an agent needs for a job of each kind, as agents announce them.
_DEVICES_FOR = {
    JobKind.RECEIPT: ("printer", "fiscal"),
    JobKind.OPEN_DRAWER: ("printer",),
    JobKind.DISPLAY: ("display",),
}


def route(
    kind: JobKind, till: str | None, agents: Mapping[uuid.UUID, Sequence[Mapping[str, Any]]]
) -> uuid.UUID | None:
    """The one agent of a shop that takes a job, from the devices each agent announced
    (`agents`: agent id -> its devices): one with a device for the job bound to the
    job's till (`cash_register`), else one with such a device bound to no till; of
    several, the first by id, so two agents never both print (and fiscalise) a receipt.
    None when no agent announced a device for it: the job is then every agent's."""

    def serving(bound_to: str | None) -> list[uuid.UUID]:
        return [
            agent
            for agent, devices in agents.items()
            if any(
                d.get("kind") in _DEVICES_FOR[kind] and d.get("cash_register") == bound_to
                for d in devices
            )
        ]

    candidates = (serving(till) if till is not None else []) or serving(None)
    return min(candidates, key=str) if candidates else None
