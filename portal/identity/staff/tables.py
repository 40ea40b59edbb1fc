"""Staff accounts, their memberships of suppliers, sessions, single-use links
and failed attempts (for the rate limits). Secrets are stored as hashes,
except the TOTP seed, which the check needs."""

from piccolo.columns import Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from portal.catalogue.tables import Resource, Supplier


class StaffAccount(Table):
    email = Varchar(length=254, unique=True, index=True)  # lower case
    name = Varchar(length=200, default="")
    password_hash = Varchar(length=200, default="")  # argon2id; "" until the invitation is taken up
    totp_secret = Varchar(length=64, default="")  # base32; "" when no second factor
    totp_confirmed_at = Timestamptz(null=True, default=None)
    totp_last_step = Integer(default=0)  # a code is good once
    operator = Boolean(default=False)  # runs the portal: approves and suspends suppliers
    language = Varchar(length=2, default="nb")
    created_at = Timestamptz()
    disabled_at = Timestamptz(null=True, default=None)


class StaffMembership(Table):
    """A staff account works for a supplier in a role; `resource` is their own
    calendar (the person they are in the catalogue), if any."""

    key = Varchar(length=40, unique=True)  # "<account>:<supplier>"
    account = ForeignKey(references=StaffAccount, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.cascade)
    role = Varchar(length=20)  # portal.identity.staff.domain.Role
    resource = ForeignKey(references=Resource, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


class StaffSession(Table):
    token_hash = Varchar(length=64, unique=True)
    account = ForeignKey(references=StaffAccount, index=True, on_delete=OnDelete.cascade)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    second_factor_at = Timestamptz(null=True, default=None)  # null: the password only, so far
    ended_at = Timestamptz(null=True, default=None)
    client_ip = Varchar(length=64, default="")


class StaffLink(Table):
    """An invitation or a password reset: a single-use, expiring link by email."""

    token_hash = Varchar(length=64, unique=True)
    account = ForeignKey(references=StaffAccount, index=True, on_delete=OnDelete.cascade)
    purpose = Varchar(length=10)  # portal.identity.staff.domain.LinkPurpose
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class StaffLoginFailure(Table):
    """One failed password, code or reset attempt, by account and by address."""

    key = Varchar(length=300, index=True)  # "account:<email>" | "ip:<address>"
    at = Timestamptz(index=True)
