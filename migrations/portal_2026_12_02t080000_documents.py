"""Documents (receipts, credit notes, gift cards): their number series, PDFs and voids.

Tables as Piccolo makes them, then triggers in raw SQL per engine that make
issued documents final (DESIGN.md invariant 7, LEGAL.md L14, L19):

* `document`, `document_pdf`, `document_void`: every UPDATE and DELETE is
  refused (and TRUNCATE on PostgreSQL);
* `document_series`: a row starts at 0, moves only one step up, is never deleted;
* a numbered document is inserted only with its series' current number
  (nobody sets a number by hand; UNIQUE (supplier_id, number) does the rest);
* one PDF per document and variant: UNIQUE (document, variant).

Piccolo runs `add_raw` functions before it creates tables, so the triggers
are created by `_Manager._run_add_tables`, right after the tables, inside the
migration's transaction.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import JSON, Bytea, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder
from piccolo.table import Table


class Document(Table, tablename="document", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


ID = "2026-12-02T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "documents: number series, immutable documents, PDFs and voids"

FINAL_TABLES = ("document", "document_pdf", "document_void")

#: Composite unique keys (Piccolo's `Unique` uses ALTER TABLE ADD CONSTRAINT, which SQLite lacks).
#: NULL numbers (gift cards) are distinct on both engines.
BOTH = [
    "CREATE UNIQUE INDEX document_number_once ON document (supplier_id, number)",
    "CREATE UNIQUE INDEX document_pdf_once ON document_pdf (document, variant)",
]

SQLITE = [
    *(
        f"CREATE TRIGGER {table}_never_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'portal: {table} rows are final: never changed or deleted'); END"
        for table in FINAL_TABLES
        for op in ("UPDATE", "DELETE")
    ),
    ("CREATE TRIGGER document_series_starts_at_zero BEFORE INSERT ON document_series WHEN NEW.last IS NOT 0 "
    "BEGIN SELECT RAISE(ABORT, 'portal: a number series starts at 0'); END"),
    ("CREATE TRIGGER document_series_one_step BEFORE UPDATE ON document_series "
    "WHEN NEW.last IS NOT OLD.last + 1 OR NEW.supplier_id IS NOT OLD.supplier_id OR NEW.id IS NOT OLD.id "
    "BEGIN SELECT RAISE(ABORT, 'portal: a number series only moves one step up'); END"),
    ("CREATE TRIGGER document_series_never_delete BEFORE DELETE ON document_series "
    "BEGIN SELECT RAISE(ABORT, 'portal: document_series rows are final: never changed or deleted'); END"),
    ("CREATE TRIGGER document_number_from_series BEFORE INSERT ON document "
    "WHEN NEW.number IS NOT NULL AND NEW.number IS NOT (SELECT last FROM document_series WHERE supplier_id = NEW.supplier_id) "
    "BEGIN SELECT RAISE(ABORT, 'portal: a document number comes from its series, never by hand'); END"),
]

POSTGRES = [
    """CREATE FUNCTION portal_document_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'portal: % rows are final: never changed or deleted (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
    RETURN NULL;
END $$""",
    *(
        statement
        for table in FINAL_TABLES
        for statement in (
            (f"CREATE TRIGGER {table}_final BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION portal_document_final()"),
            (f"CREATE TRIGGER {table}_never_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION portal_document_final()"),
        )
    ),
    """CREATE FUNCTION portal_document_series_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.last IS DISTINCT FROM 0 THEN
            RAISE EXCEPTION 'portal: a number series starts at 0' USING ERRCODE = 'restrict_violation';
        END IF;
    ELSIF NEW.last IS DISTINCT FROM OLD.last + 1 OR NEW.supplier_id IS DISTINCT FROM OLD.supplier_id
            OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'portal: a number series only moves one step up' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$""",
    ("CREATE TRIGGER document_series_step BEFORE INSERT OR UPDATE ON document_series "
    "FOR EACH ROW EXECUTE FUNCTION portal_document_series_step()"),
    ("CREATE TRIGGER document_series_final BEFORE DELETE ON document_series "
    "FOR EACH ROW EXECUTE FUNCTION portal_document_final()"),
    ("CREATE TRIGGER document_series_never_truncate BEFORE TRUNCATE ON document_series "
    "FOR EACH STATEMENT EXECUTE FUNCTION portal_document_final()"),
    """CREATE FUNCTION portal_document_number_from_series() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.number IS NOT NULL AND NEW.number IS DISTINCT FROM
            (SELECT last FROM document_series WHERE supplier_id = NEW.supplier_id) THEN
        RAISE EXCEPTION 'portal: a document number comes from its series, never by hand'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$""",
    ("CREATE TRIGGER document_number_from_series BEFORE INSERT ON document "
    "FOR EACH ROW EXECUTE FUNCTION portal_document_number_from_series()"),
]

POSTGRES_BACKWARDS = [
    "DROP FUNCTION IF EXISTS portal_document_final() CASCADE",
    "DROP FUNCTION IF EXISTS portal_document_series_step() CASCADE",
    "DROP FUNCTION IF EXISTS portal_document_number_from_series() CASCADE",
]


class _Manager(MigrationManager):
    async def _run_add_tables(self, backwards: bool = False):
        engine = engine_finder()
        postgres = engine.engine_type in ("postgres", "cockroach")
        if backwards:
            # Dropping the tables drops their triggers; PostgreSQL keeps the functions.
            await super()._run_add_tables(backwards=True)
            if postgres and not self.preview:
                for statement in POSTGRES_BACKWARDS:
                    await engine.run_ddl(statement)
            return
        await super()._run_add_tables(backwards=False)
        if self.preview:
            return
        for statement in BOTH + (POSTGRES if postgres else SQLITE):
            await engine.run_ddl(statement)


async def forwards():
    manager = _Manager(
        migration_id=ID, app_name="portal", description=DESCRIPTION
    )

    manager.add_table(
        class_name="DocumentSeries",
        tablename="document_series",
        schema=None,
        columns=None,
    )

    manager.add_table(
        class_name="DocumentVoid",
        tablename="document_void",
        schema=None,
        columns=None,
    )

    manager.add_table(
        class_name="DocumentPdf",
        tablename="document_pdf",
        schema=None,
        columns=None,
    )

    manager.add_table(
        class_name="Document", tablename="document", schema=None, columns=None
    )

    manager.add_column(
        table_class_name="DocumentSeries",
        tablename="document_series",
        column_name="supplier_id",
        db_column_name="supplier_id",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentSeries",
        tablename="document_series",
        column_name="last",
        db_column_name="last",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentVoid",
        tablename="document_void",
        column_name="document",
        db_column_name="document",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Document,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.restrict,
            "target_column": None,
            "null": False,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentVoid",
        tablename="document_void",
        column_name="at",
        db_column_name="at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentVoid",
        tablename="document_void",
        column_name="reason",
        db_column_name="reason",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentVoid",
        tablename="document_void",
        column_name="actor",
        db_column_name="actor",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 200,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentPdf",
        tablename="document_pdf",
        column_name="document",
        db_column_name="document",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Document,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.restrict,
            "target_column": None,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentPdf",
        tablename="document_pdf",
        column_name="variant",
        db_column_name="variant",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 10,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentPdf",
        tablename="document_pdf",
        column_name="content",
        db_column_name="content",
        column_class_name="Bytea",
        column_class=Bytea,
        params={
            "default": b"",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentPdf",
        tablename="document_pdf",
        column_name="sha256",
        db_column_name="sha256",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentPdf",
        tablename="document_pdf",
        column_name="size",
        db_column_name="size",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="DocumentPdf",
        tablename="document_pdf",
        column_name="rendered_at",
        db_column_name="rendered_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="supplier_id",
        db_column_name="supplier_id",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="order_id",
        db_column_name="order_id",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="kind",
        db_column_name="kind",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 20,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="number",
        db_column_name="number",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="issued_at",
        db_column_name="issued_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="language",
        db_column_name="language",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 2,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="refers_to",
        db_column_name="refers_to",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": "self",
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.restrict,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="source_key",
        db_column_name="source_key",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 100,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Document",
        tablename="document",
        column_name="snapshot",
        db_column_name="snapshot",
        column_class_name="JSON",
        column_class=JSON,
        params={
            "default": "{}",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )



    return manager
