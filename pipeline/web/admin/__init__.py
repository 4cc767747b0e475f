"""The admin web UI at /admin: server-rendered pages, no scripts (the CSP forbids them).

Include `router` in the web app; everything else is made on first use. Sign-in uses
ADMIN_USERNAME/ADMIN_PASSWORD; without them every admin page says how to turn it on.
"""

from fastapi import APIRouter

from pipeline.web.admin import (
    broadcasts,
    digests,
    outbox,
    overview,
    people,
    person,
    runs,
    signin,
)
from pipeline.web.admin.auth import PATH

router = APIRouter(prefix=PATH, include_in_schema=False)
for part in (signin, overview, people, person, digests, broadcasts, runs, outbox):
    router.include_router(part.router)
router.include_router(signin.signout_router)

__all__ = ["router"]
