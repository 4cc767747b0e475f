"""The scheduler: polling, digests on their schedules, retries and clean-up, one leader.

`service.scheduling` runs it beside the web app in `newsletter serve`.
"""
