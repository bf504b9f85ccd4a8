"""Starlette app of the dashboard: sign-in with an analyst key, trends, trend, queue, QA, model.

Each page's routes live in their own module under ``service/dashboard/pages/``; what they share
(the request checks, the constants, the :class:`~service.dashboard.web.Dashboard` context) is in
``service/dashboard/web.py`` and re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from service.dashboard import charts, model_view, present
from service.dashboard.pages import model, qa, queue, signin, trends
from service.dashboard.web import (  # noqa: F401 - re-exported (tests and callers import them from here)
    COOKIE,
    CSRF_MESSAGE,
    FORM_LIMITS,
    HERE,
    LOGIN_CSRF_COOKIE,
    MAX_PAGE,
    PAGE_SIZE,
    Dashboard,
    _parse_day,
    _parse_int,
    same_origin,
    token_ok,
)
from trendml.config import Settings
from trendml.policy import load_policy
from trendml.schema import create_all
from trendml.store.base import make_engine
from trendml.store.feedback import ACTIONS

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    model_info: Callable[[], dict[str, Any] | None] | None = None,
    root_path: str = "/ui",
) -> Starlette:
    """Build the dashboard. ``model_info`` returns what the model page shows (champion version,
    metrics, promotion time); the service passes one backed by the MLflow registry."""
    engine = engine or make_engine(settings.db_url)
    create_all(engine)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    policy = load_policy(settings.policy_file)  # level names and the priority rule (models/policy.yaml)
    templates.env.globals.update(
        charts=charts, severity_labels=policy.level_names, root=root_path, actions=ACTIONS, quote=quote
    )

    present.install(templates.env)  # dates, masked keywords, message codes (service/dashboard/present.py)
    templates.env.globals["model_view"] = model_view

    d = Dashboard(engine, templates, model_info=model_info, root_path=root_path, policy=policy)
    routes = [
        *signin.routes(d),
        *trends.routes(d),
        *queue.routes(d),
        *model.routes(d),
        *qa.routes(d),
        *_issue16_routes(d, settings),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.engine = engine
    return app


def _issue16_routes(d: Dashboard, settings: Settings) -> list:
    """Alerts, search and curation pages (issue 16), each in its own module under ``pages/``."""
    from service.dashboard.pages import alerts, curation, search

    return [*alerts.routes(d), *search.routes(d, settings.home), *curation.routes(d)]
