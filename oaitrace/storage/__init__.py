"""Storage: SQLAlchemy models, engines with the SQLite settings, migrations, batched inserts.

Private to oaitrace: the recorder writes through `Store`, the CLI migrates
with `upgrade` and `current_revision`, and `oaitrace.query` reads the tables.
"""

from oaitrace.storage._engine import create_engine, resolve_database_url
from oaitrace.storage._migrate import current_revision, head_revision, upgrade
from oaitrace.storage._models import BodyRow, RequestRow
from oaitrace.storage._store import Store, record_to_rows

__all__ = [
    "BodyRow",
    "RequestRow",
    "Store",
    "create_engine",
    "current_revision",
    "head_revision",
    "record_to_rows",
    "resolve_database_url",
    "upgrade",
]
