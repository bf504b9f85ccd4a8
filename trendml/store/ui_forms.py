"""One-time form tokens of the dashboard's decision forms: a decision is never lost or doubled.

Every rendered decision form carries a fresh random token; only its SHA-256 is stored, with the
trend it is for and the analyst it was rendered for. A submit *uses* the token with one atomic
``UPDATE ... WHERE used_at IS NULL``: the first submit stores its decision, a second submit of the
same token (a double click, a resent POST) stores nothing. When the session has expired, the
submit is *stashed* on its token instead (action and note), and the form is offered again with
them after sign-in, so the work is kept until the analyst submits it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.store.base import Base
from trendml.store.items import _aware, utcnow

logger = logging.getLogger(__name__)

#: how long a rendered form (and a stashed decision) stays usable
FORM_TTL_S = 24 * 3600


class UiFormToken(Base):
    __tablename__ = "ui_form_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300), index=True)  # e.g. the trend id
    analyst: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    result_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the stored decision's id
    pending_action: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pending_note: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class FormToken:
    subject: str
    analyst: str
    created_at: datetime
    used: bool
    result_id: int | None
    pending_action: str | None
    pending_note: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue_token(session: Session, subject: str, analyst: str) -> str:
    """A new one-time token for a form about ``subject`` rendered for ``analyst``. Commits; tokens
    older than :data:`FORM_TTL_S` are deleted on the way."""
    now = utcnow()
    session.execute(delete(UiFormToken).where(UiFormToken.created_at < now - timedelta(seconds=FORM_TTL_S)))
    token = secrets.token_urlsafe(24)
    session.add(UiFormToken(token_hash=_hash(token), subject=subject, analyst=analyst, created_at=now))
    session.commit()
    return token


def get_token(session: Session, token: str, subject: str) -> FormToken | None:
    """The live token issued for ``subject`` (None when unknown, for another subject, or expired)."""
    if not token or len(token) > 100:
        return None
    row = session.get(UiFormToken, _hash(token))
    if row is None or row.subject != subject:
        return None
    created = _aware(row.created_at)
    if created is None or created < utcnow() - timedelta(seconds=FORM_TTL_S):
        return None
    return FormToken(
        subject=row.subject,
        analyst=row.analyst,
        created_at=created,
        used=row.used_at is not None,
        result_id=row.result_id,
        pending_action=row.pending_action,
        pending_note=row.pending_note,
    )


def _unused(token: str, subject: str):  # noqa: ANN202 - an UPDATE statement
    """An UPDATE of ``token``'s row if it is for ``subject`` and not used yet."""
    return update(UiFormToken).where(
        UiFormToken.token_hash == _hash(token),
        UiFormToken.subject == subject,
        UiFormToken.used_at.is_(None),
    )


def use_token(session: Session, token: str, subject: str) -> bool:
    """Mark the token used, atomically: True for the one submit that gets it (it then stores its
    decision in the same transaction and calls :func:`record_result`), False for every other
    (already used, unknown, another subject). Does not commit."""
    if not token or len(token) > 100:
        return False
    n = session.execute(
        _unused(token, subject).values(used_at=utcnow(), pending_action=None, pending_note=None)
    ).rowcount
    return bool(n)


def record_result(session: Session, token: str, result_id: int) -> None:
    """Remember which stored row a used token produced. Does not commit."""
    session.execute(
        update(UiFormToken).where(UiFormToken.token_hash == _hash(token)).values(result_id=result_id)
    )


def stash(session: Session, token: str, subject: str, action: str, note: str | None) -> bool:
    """Keep a submit that could not be stored (the session expired) on its unused token. Commits;
    False when the token is unknown, used or for another subject."""
    if not token or len(token) > 100:
        return False
    n = session.execute(
        _unused(token, subject).values(pending_action=action[:32], pending_note=note)
    ).rowcount
    session.commit()
    return bool(n)


def pending_for(session: Session, token: str, subject: str, analyst: str) -> FormToken | None:
    """The stashed, still unused submit on ``token`` for ``analyst`` (None otherwise)."""
    found = get_token(session, token, subject)
    if found is None or found.used or found.analyst != analyst or found.pending_action is None:
        return None
    return found


def latest_tokens(session: Session, subject: str) -> list[str]:
    """Hashes of a subject's tokens, newest first (for tests and diagnostics)."""
    return list(
        session.scalars(
            select(UiFormToken.token_hash)
            .where(UiFormToken.subject == subject)
            .order_by(UiFormToken.created_at.desc())
        )
    )
