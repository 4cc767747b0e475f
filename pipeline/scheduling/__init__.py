"""The scheduler: polling, digests on their schedules, retries and clean-up, one leader."""
