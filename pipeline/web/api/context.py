"""What endpoints need from the app, as FastAPI dependencies: settings, database, the
subscriber store, and the API's own state (senders, idempotency keys, the refresh lock)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.web.api.idempotency import IdempotencyKeys
from pipeline.web.api.sending import Senders
from subscribers import SubscriberStore


@dataclass
class ApiState:
    """Per app: the runs being sent, answers by Idempotency-Key, and a lock that keeps
    API-started ingests and feed builds one at a time."""

    keys: IdempotencyKeys
    senders: Senders = field(default_factory=Senders)
    refreshing: threading.Lock = field(default_factory=threading.Lock)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _db(request: Request) -> Database:
    return request.app.state.db


def _store(request: Request) -> SubscriberStore:
    return request.app.state.subscribers


def _state(request: Request) -> ApiState:
    return request.app.state.api


SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_db)]
StoreDep = Annotated[SubscriberStore, Depends(_store)]
StateDep = Annotated[ApiState, Depends(_state)]
