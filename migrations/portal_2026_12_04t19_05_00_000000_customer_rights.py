"""The customer's rights (issue 10, L24–L29): legal holds, document releases,
marketing consents; and documents that may be deleted once their retention
has ended, never before.

The "never deleted" triggers of the documents migration become "never
deleted unless released": a DELETE of a `document`, `document_pdf` or
`document_void` row is refused unless `document_release` names the document
with `released_at` in the sixth calendar year (Oslo time) after the one it
was issued in, or later (bokføringsloven: 5 years after the end of the
accounting year). UPDATE and TRUNCATE stay refused; releases are final.
Oslo is UTC+1 at every new year, so on SQLite the Oslo year of a UTC time
is the year of that time plus one hour.

The tables are frozen here as they were created (the live classes may grow later)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-12-04T19:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "customer rights: legal holds, document releases, marketing consents"


class Supplier(Table, tablename="supplier"):
    id = Serial(primary_key=True)


class Customer(Table, tablename="customer"):
    id = Serial(primary_key=True)


class LegalHold(Table, tablename="legal_hold"):
    order_id = Integer(unique=True)
    supplier_id = Integer(index=True)
    reason = Varchar(length=20)
    until = Timestamptz(index=True)
    created_at = Timestamptz()
    released_at = Timestamptz(null=True, default=None, index=True)


class DocumentRelease(Table, tablename="document_release"):
    document_id = Integer(unique=True)
    released_at = Timestamptz()
    reason = Varchar(length=40, default="")
    supplier_id = Integer(null=True, default=None, index=True)
    number = Integer(null=True, default=None)


class MarketingConsent(Table, tablename="marketing_consent"):
    key = Varchar(length=40, unique=True)
    customer = ForeignKey(references=Customer, index=True)
    supplier = ForeignKey(references=Supplier, index=True)
    text = Text(default="")
    source = Varchar(length=20, default="checkout")
    given_at = Timestamptz()
    withdrawn_at = Timestamptz(null=True, default=None)


FINAL_TABLES = ("document", "document_pdf", "document_void")

#: The document a row of each table belongs to.
_DOC = {"document": "OLD.id", "document_pdf": "OLD.document", "document_void": "OLD.document"}

SQLITE = [
    *(f"DROP TRIGGER IF EXISTS {table}_never_delete" for table in FINAL_TABLES),
    *(
        f"CREATE TRIGGER {table}_never_delete BEFORE DELETE ON {table} "
        "WHEN NOT EXISTS (SELECT 1 FROM document_release r JOIN document d ON d.id = r.document_id "
        f"WHERE r.document_id = {_DOC[table]} "
        "AND CAST(strftime('%Y', r.released_at, '+1 hour') AS INTEGER) >= CAST(strftime('%Y', d.issued_at, '+1 hour') AS INTEGER) + 6) "
        f"BEGIN SELECT RAISE(ABORT, 'portal: {table} rows are final: never changed or deleted before their retention has ended'); END"
        for table in FINAL_TABLES
    ),
    *(
        f"CREATE TRIGGER document_release_never_{op.lower()} BEFORE {op} ON document_release "
        "BEGIN SELECT RAISE(ABORT, 'portal: document_release rows are final'); END"
        for op in ("UPDATE", "DELETE")
    ),
]

SQLITE_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS {table}_never_delete" for table in FINAL_TABLES),
    *(
        f"CREATE TRIGGER {table}_never_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'portal: {table} rows are final: never changed or deleted'); END"
        for table in FINAL_TABLES
    ),
]

POSTGRES = [
    """CREATE FUNCTION portal_document_released() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    doc_id integer;
BEGIN
    IF TG_TABLE_NAME = 'document' THEN
        doc_id := OLD.id;
    ELSE
        doc_id := OLD.document;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM document_release r JOIN document d ON d.id = r.document_id
        WHERE r.document_id = doc_id
          AND EXTRACT(YEAR FROM r.released_at AT TIME ZONE 'Europe/Oslo')
              >= EXTRACT(YEAR FROM d.issued_at AT TIME ZONE 'Europe/Oslo') + 6
    ) THEN
        RAISE EXCEPTION 'portal: % rows are final: never changed or deleted before their retention has ended', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END $$""",
    *(
        statement
        for table in FINAL_TABLES
        for statement in (
            f"DROP TRIGGER IF EXISTS {table}_final ON {table}",
            (f"CREATE TRIGGER {table}_final BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION portal_document_final()"),
            (f"CREATE TRIGGER {table}_released BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION portal_document_released()"),
        )
    ),
    ("CREATE TRIGGER document_release_final BEFORE UPDATE OR DELETE ON document_release "
    "FOR EACH ROW EXECUTE FUNCTION portal_document_final()"),
]

POSTGRES_BACKWARDS = [
    *(
        statement
        for table in FINAL_TABLES
        for statement in (
            f"DROP TRIGGER IF EXISTS {table}_released ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_final ON {table}",
            (f"CREATE TRIGGER {table}_final BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION portal_document_final()"),
        )
    ),
    "DROP FUNCTION IF EXISTS portal_document_released() CASCADE",
]


def _postgres() -> bool:
    return engine_finder().engine_type in ("postgres", "cockroach")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create():
        await LegalHold.create_table()
        await DocumentRelease.create_table()
        await MarketingConsent.create_table()
        engine = engine_finder()
        for statement in POSTGRES if _postgres() else SQLITE:
            await engine.run_ddl(statement)

    async def drop():
        engine = engine_finder()
        for statement in POSTGRES_BACKWARDS if _postgres() else SQLITE_BACKWARDS:
            await engine.run_ddl(statement)
        for table in (MarketingConsent, DocumentRelease, LegalHold):
            await table.alter().drop_table(if_exists=True)

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
