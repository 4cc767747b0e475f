"""The subscriber domain: model, store, consent and double opt-in, signed tokens,
preferences, CSV import/export, suppression. Never imports `pipeline`."""

from subscribers.addresses import normalise_email
from subscribers.csv_export import export_csv
from subscribers.csv_import import ImportReport, import_csv
from subscribers.errors import KeptOut, SubscriberError
from subscribers.models import STATUSES, Base, Consent, Subscriber, Suppression
from subscribers.profile import FREQUENCIES, Frequency
from subscribers.serialise import subscriber_json
from subscribers.store import Confirmed, Signup, SubscriberStore
from subscribers.text import clean_name
from subscribers.tokens import TokenError, TokenSigner

__all__ = [
    "FREQUENCIES",
    "STATUSES",
    "Base",
    "Confirmed",
    "Consent",
    "Frequency",
    "ImportReport",
    "KeptOut",
    "Signup",
    "Subscriber",
    "SubscriberError",
    "SubscriberStore",
    "Suppression",
    "TokenError",
    "TokenSigner",
    "clean_name",
    "export_csv",
    "import_csv",
    "normalise_email",
    "subscriber_json",
]
