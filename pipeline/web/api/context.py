"""What endpoints need from the app, as FastAPI dependencies read from the web state:
settings, database, the subscriber store, the runs being sent, the clock, and the API's own state
(idempotency keys, the refresh lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.web.api.idempotency import IdempotencyKeys
from pipeline.web.sending import Senders
from pipeline.web.state import web_state
from subscribers import SubscriberStore


@dataclass(frozen=True)
class ApiState:
    """Per app: answers by Idempotency-Key, and a lock that keeps API-started ingests and
    feed builds one at a time."""

    keys: IdempotencyKeys
    refreshing: threading.Lock = field(default_factory=threading.Lock)


def _settings(request: Request) -> Settings:
    return web_state(request).settings


def _db(request: Request) -> Database:
    return web_state(request).db


def _store(request: Request) -> SubscriberStore:
    return web_state(request).subscribers


def _senders(request: Request) -> Senders:
    return web_state(request).senders


def _clock(request: Request) -> Callable[[], datetime]:
    return web_state(request).clock


def _state(request: Request) -> ApiState:
    return web_state(request).api


SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_db)]
StoreDep = Annotated[SubscriberStore, Depends(_store)]
SendersDep = Annotated[Senders, Depends(_senders)]
ClockDep = Annotated[Callable[[], datetime], Depends(_clock)]
StateDep = Annotated[ApiState, Depends(_state)]
