"""Claims and seat counters."""

from piccolo.columns import Integer, Varchar
from piccolo.table import Table


class SlotClaim(Table):
    """One row per (resource, 5-minute unit) a reservation or class session occupies.

    `key` is unique: the second claimant of any unit fails in the database,
    whatever the application believed when it read the slot list.
    """

    key = Varchar(length=64, unique=True)  # "<resource_id>:<unit epoch minutes>"
    owner = Varchar(length=40, index=True)  # "r:<reservation id>" or "s:<session id>"


class ClassSession(Table):
    """Seats of one capacity>1 occurrence; taken only by a conditional update."""

    key = Varchar(length=80, unique=True)  # "<offering>:<resource>:<start epoch minutes>"
    capacity = Integer()
    taken = Integer(default=0)
