"""Scale-out: Celery workers drain the outbox through the same claims as every sender.

With BROKER_URL set, whoever starts or resumes a run hands it over as chunk tasks
(`dispatch`) instead of sending it in-process; `newsletter worker` runs them. The database
stays the truth: a chunk claims whatever rows are due, so a lost, repeated or killed task
loses no recipient, and `rescue` hands over again the runs that nobody is working on.
"""

from pipeline.workers.dispatch import dispatch, rescue
from pipeline.workers.watch import watch_run

__all__ = ["dispatch", "rescue", "watch_run"]
