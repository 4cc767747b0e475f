"""The Celery application for one deployment's settings: broker, queue and delivery rules.

Tasks are acknowledged only once they ran (`acks_late`), and a task whose worker died is
given back to the broker (`task_reject_on_worker_lost`); a worker takes one task per
process at a time, so a crash strands no reserved tasks. Events are on, so Flower can
watch the workers. Results are not kept: the outbox rows are the result.
"""

from __future__ import annotations

import threading

from celery import Celery

from pipeline.settings import Settings

SEND_CHUNK = "newsletter.send_chunk"
_apps: dict[tuple[str, str], Celery] = {}
_making = threading.Lock()


def celery_app(settings: Settings) -> Celery:
    """The app for BROKER_URL and WORKER_QUEUE, made once per process (it pools connections)."""
    if not settings.broker_url:
        raise ValueError("BROKER_URL is not set")
    key = (settings.broker_url, settings.worker_queue)
    with _making:
        if key not in _apps:
            _apps[key] = _make(settings.broker_url, settings.worker_queue)
        return _apps[key]


def _make(broker_url: str, queue: str) -> Celery:
    app = Celery("newsletter", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # A publish to a broker that is down fails within seconds, not minutes.
        task_publish_retry_policy={
            "max_retries": 3,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 1,
        },
    )
    return app
