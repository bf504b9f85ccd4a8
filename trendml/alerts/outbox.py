"""The alert outbox: ``alert_alerts`` (one row per rule and trend) and ``alert_deliveries`` (one row
per alert and webhook), written in the same transaction as the detection results that raised them
(:meth:`trendml.trends.state.TrendState.also_write`), so a crash either keeps both or neither.

Delivery state per row: ``pending`` (due at ``next_attempt_at``), ``delivered`` or ``failed`` (gave up
after ``alert_delivery.max_attempts``; :func:`replay_alert` queues it again). A sender *claims* a due
row with one compare-and-swap update (``attempts`` + 1, ``next_attempt_at`` pushed past its timeout),
so two senders never post the same attempt, and a sender killed mid-delivery leaves a row that is
due again once the claim lapses: nothing is lost, and a receiver sees at most a repeat (at least
once; receivers dedupe by the alert id).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.alerts.rules import AlertCandidate, severity_share
from trendml.errors import InputError
from trendml.policy import AlertDelivery, AlertRule, Policy
from trendml.store.base import Base

logger = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class AlertRow(Base):
    __tablename__ = "alert_alerts"
    __table_args__ = (UniqueConstraint("rule", "trend_id", name="uq_alert_rule_trend"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    trend_id: Mapped[str] = mapped_column(String(64), index=True)
    window_start: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    payload: Mapped[str] = mapped_column(Text)  # the generic JSON body (docs/alerts.md)
    member_ids: Mapped[str] = mapped_column(Text, default="[]")


class AlertDeliveryRow(Base):
    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("alert_id", "webhook", name="uq_delivery_alert_webhook"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alert_alerts.id", ondelete="CASCADE"), index=True)
    webhook: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


TABLES = [AlertRow.__table__, AlertDeliveryRow.__table__]


def alert_id(rule: str, trend_id: str) -> str:
    """Deterministic: the same rule on the same trend is the same alert (receivers dedupe by it)."""
    return "al-" + hashlib.sha256(f"{rule}\x00{trend_id}".encode()).hexdigest()[:20]


def alert_body(c: AlertCandidate, created_at: datetime) -> dict[str, Any]:
    """The generic JSON payload of an alert (no item texts: ids, figures, the trend's title)."""
    t = c.trend
    return {
        "alert_id": alert_id(c.rule.name, t.trend_id),
        "rule": c.rule.name,
        "when": c.rule.when,
        "min_severity": c.rule.min_severity,
        "trend_id": t.trend_id,
        "title": t.title,
        "status": t.status.value,
        "emerging": t.emerging,
        "size": t.size,
        "severity_mix": list(t.severity_mix) if t.severity_mix is not None else None,
        "severity_share": severity_share(t, c.rule.min_severity),
        "us_share": t.us_share,
        "us_specific": t.us_specific,
        "emergence_score": t.emergence_score,
        "window_start": c.window_start.isoformat(),
        "created_at": created_at.replace(tzinfo=UTC).isoformat(),
        "policy_areas": list(c.rule.policy_areas),
        "notify": list(c.rule.notify),
        "dashboard_path": f"/ui/trends/{t.trend_id}",
    }


def enqueue_op(candidates: Sequence[AlertCandidate]) -> Callable[[Session], None]:
    """A write for :meth:`TrendState.also_write`: the alerts and one pending delivery per webhook,
    skipping (rule, trend) pairs already stored, in the detection run's own transaction."""
    created = _now()

    def write(s: Session) -> None:
        if not candidates:
            return
        keys = {c.key for c in candidates}
        trend_ids = {k[1] for k in keys}
        stored = set(
            s.execute(select(AlertRow.rule, AlertRow.trend_id).where(AlertRow.trend_id.in_(trend_ids))).all()
        )
        for c in candidates:
            if c.key in stored:
                continue
            stored.add(c.key)
            _add_alert(
                s,
                alert_body(c, created),
                window_start=c.window_start.astimezone(UTC).replace(tzinfo=None),
                member_ids=list(c.trend.member_ids),
                notify=c.rule.notify,
            )

    return write


def _add_alert(
    s: Session, body: dict[str, Any], *, window_start: datetime, member_ids: list[str], notify: Sequence[str]
) -> None:
    """Store one alert (its generic body) and a pending delivery per webhook in ``notify``."""
    created = datetime.fromisoformat(body["created_at"]).astimezone(UTC).replace(tzinfo=None)
    s.add(
        AlertRow(
            id=body["alert_id"],
            rule=body["rule"],
            trend_id=body["trend_id"],
            window_start=window_start,
            created_at=created,
            payload=json.dumps(body, sort_keys=True),
            member_ids=json.dumps(member_ids),
        )
    )
    s.flush()
    for hook in notify:
        s.add(
            AlertDeliveryRow(
                alert_id=body["alert_id"],
                webhook=hook,
                status=PENDING,
                attempts=0,
                next_attempt_at=created,
            )
        )


def monitoring_alert_op(
    rules: Sequence[AlertRule], reasons: Sequence[str], day: str
) -> Callable[[Session], None]:
    """A write that queues the ``monitoring_bound`` rules' alert for ``day`` (ISO date) when live
    monitoring crosses a bound (issue 22): one alert per rule and day (the same deterministic id, so a
    bound crossed again the same day is not queued twice), one pending delivery per webhook. Its
    ``trend_id`` is ``monitoring-DAY``; ``reasons`` (figures, no text) are the body's title."""
    created = _now()

    def write(s: Session) -> None:
        for rule in (r for r in rules if r.when == "monitoring_bound"):
            subject = f"monitoring-{day}"
            aid = alert_id(rule.name, subject)
            if s.get(AlertRow, aid) is not None:
                continue
            body = {
                "alert_id": aid,
                "rule": rule.name,
                "when": rule.when,
                "trend_id": subject,
                "title": "; ".join(reasons),
                "status": "degraded",
                "size": None,
                "window_start": day,
                "created_at": created.replace(tzinfo=UTC).isoformat(),
                "policy_areas": list(rule.policy_areas),
                "notify": list(rule.notify),
                "dashboard_path": "/ui/model",
            }
            _add_alert(
                s, body, window_start=datetime.fromisoformat(day), member_ids=[], notify=rule.notify
            )

    return write


def suppression(
    session: Session, members_of: Callable[[str], Sequence[str]]
) -> tuple[dict[str, frozenset[str]], dict[str, dict[str, frozenset[str]]]]:
    """``(dismissed, alerted)`` for :func:`trendml.alerts.rules.evaluate`: members of each trend whose
    latest decision is dismiss, and members of each stored alert per rule."""
    from trendml.store.feedback import latest_actions

    dismissed = {
        tid: frozenset(members_of(tid))
        for tid, row in latest_actions(session).items()
        if row.action == "dismiss"
    }
    alerted: dict[str, dict[str, frozenset[str]]] = {}
    for rule, tid, members in session.execute(select(AlertRow.rule, AlertRow.trend_id, AlertRow.member_ids)):
        alerted.setdefault(rule, {})[tid] = frozenset(json.loads(members or "[]"))
    return dismissed, alerted


# ---------------------------------------------------------------------------------- delivery state
def backoff_s(attempts: int, cfg: AlertDelivery) -> float:
    """Seconds to wait after failed attempt number ``attempts`` (1-based): exponential, capped."""
    return float(min(cfg.max_backoff_s, cfg.backoff_s * (2 ** max(0, attempts - 1))))


def due_deliveries(
    session: Session, policy: Policy, *, now: datetime | None = None, limit: int = 50
) -> list[Any]:
    """Pending deliveries that are due and whose webhook has a URL: ``(delivery row, payload dict)``."""
    now = now or _now()
    hooks = [name for name, h in policy.webhooks.items() if h.url]
    if not hooks:
        return []
    rows = session.execute(
        select(AlertDeliveryRow, AlertRow.payload)
        .join(AlertRow, AlertRow.id == AlertDeliveryRow.alert_id)
        .where(
            AlertDeliveryRow.status == PENDING,
            AlertDeliveryRow.next_attempt_at <= now,
            AlertDeliveryRow.webhook.in_(hooks),
        )
        .order_by(AlertDeliveryRow.next_attempt_at, AlertDeliveryRow.id)
        .limit(limit)
    ).all()
    return [(d, json.loads(p)) for d, p in rows]


def claim(
    session: Session, row: AlertDeliveryRow, cfg: AlertDelivery, *, now: datetime | None = None
) -> int | None:
    """Take one due delivery for one attempt (compare-and-swap on its attempt count): the attempt
    number, or None when another sender took it first. Commits."""
    now = now or _now()
    lapse = now + timedelta(seconds=cfg.timeout_s * 2 + 5)
    done = session.execute(
        update(AlertDeliveryRow)
        .where(
            AlertDeliveryRow.id == row.id,
            AlertDeliveryRow.attempts == row.attempts,
            AlertDeliveryRow.status == PENDING,
        )
        .values(attempts=row.attempts + 1, next_attempt_at=lapse)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return row.attempts + 1 if done == 1 else None


def record_attempt(
    session: Session,
    delivery_id: int,
    attempt: int,
    cfg: AlertDelivery,
    *,
    ok: bool,
    status_code: int | None,
    error: str | None,
    now: datetime | None = None,
) -> str:
    """Store an attempt's outcome; returns the delivery's new status. Commits."""
    now = now or _now()
    if ok:
        values: dict[str, Any] = {
            "status": DELIVERED,
            "delivered_at": now,
            "last_status": status_code,
            "last_error": None,
        }
    elif attempt >= cfg.max_attempts:
        values = {"status": FAILED, "last_status": status_code, "last_error": (error or "")[:500]}
    else:
        values = {
            "next_attempt_at": now + timedelta(seconds=backoff_s(attempt, cfg)),
            "last_status": status_code,
            "last_error": (error or "")[:500],
        }
    session.execute(
        update(AlertDeliveryRow)
        .where(AlertDeliveryRow.id == delivery_id, AlertDeliveryRow.attempts == attempt)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return values.get("status", PENDING)


# ---------------------------------------------------------------------------------- reads and replay
def _iso(dt: datetime | None) -> str | None:
    return dt.replace(tzinfo=UTC).isoformat() if dt is not None else None


def list_alerts(
    session: Session, *, limit: int = 100, offset: int = 0, trend_id: str | None = None
) -> dict[str, Any]:
    """``{"total", "items"}``: alerts newest first, each with its deliveries."""
    from sqlalchemy import func

    stmt = select(AlertRow)
    count = select(func.count()).select_from(AlertRow)
    if trend_id is not None:
        stmt = stmt.where(AlertRow.trend_id == trend_id)
        count = count.where(AlertRow.trend_id == trend_id)
    total = int(session.execute(count).scalar() or 0)
    rows = list(
        session.scalars(stmt.order_by(AlertRow.created_at.desc(), AlertRow.id).offset(offset).limit(limit))
    )
    deliveries: dict[str, list[dict[str, Any]]] = {}
    if rows:
        for d in session.scalars(
            select(AlertDeliveryRow)
            .where(AlertDeliveryRow.alert_id.in_([r.id for r in rows]))
            .order_by(AlertDeliveryRow.id)
        ):
            deliveries.setdefault(d.alert_id, []).append(
                {
                    "webhook": d.webhook,
                    "status": d.status,
                    "attempts": d.attempts,
                    "next_attempt_at": _iso(d.next_attempt_at) if d.status == PENDING else None,
                    "last_status": d.last_status,
                    "last_error": d.last_error,
                    "delivered_at": _iso(d.delivered_at),
                }
            )
    items = []
    for r in rows:
        body = json.loads(r.payload)
        items.append(
            {
                "id": r.id,
                "rule": r.rule,
                "trend_id": r.trend_id,
                "title": body.get("title"),
                "size": body.get("size"),
                "severity_share": body.get("severity_share"),
                "window_start": _iso(r.window_start),
                "created_at": _iso(r.created_at),
                "deliveries": deliveries.get(r.id, []),
            }
        )
    return {"total": total, "items": items}


def get_alert(session: Session, alert_id_: str) -> AlertRow:
    row = session.get(AlertRow, alert_id_)
    if row is None:
        raise InputError(
            f'alert "{alert_id_[:60]}" does not exist; expected an id from `trendml alerts list`',
            field="alert_id",
        )
    return row


def replay_alert(session: Session, alert_id_: str, *, now: datetime | None = None) -> int:
    """Queue every delivery of an alert again (delivered or failed ones included): attempts back to
    0, due now. Returns how many deliveries were queued. Commits."""
    get_alert(session, alert_id_)
    n = session.execute(
        update(AlertDeliveryRow)
        .where(AlertDeliveryRow.alert_id == alert_id_)
        .values(status=PENDING, attempts=0, next_attempt_at=now or _now(), delivered_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return int(n)


def pending_count(session: Session, policy: Policy) -> int:
    """Pending deliveries to webhooks that have a URL (due or waiting for a retry)."""
    from sqlalchemy import func

    hooks = [name for name, h in policy.webhooks.items() if h.url]
    if not hooks:
        return 0
    return int(
        session.execute(
            select(func.count())
            .select_from(AlertDeliveryRow)
            .where(AlertDeliveryRow.status == PENDING, AlertDeliveryRow.webhook.in_(hooks))
        ).scalar()
        or 0
    )
