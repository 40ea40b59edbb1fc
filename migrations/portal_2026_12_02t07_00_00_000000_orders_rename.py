"""A booking becomes an order: the `booking` table is renamed `orders` (its
ids, and every foreign key to it, stay), and its columns get the order's
names. Columns that belong to the appointment's reservation are copied to
the new `reservation` table by a later migration, then dropped."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "booking -> orders (rename, keeping ids and foreign keys)"

RENAMED = {
    "orders": [
        ("hold_token", "checkout_token"),
        ("hold_expires_at", "expires_at"),
        ("payment_method", "means"),
        ("status", "state"),
        ("coupon_misses", "code_misses"),
    ],
    "payment": [("booking", "order")],
    "money_movement": [("booking", "order")],
    "coupon_redemption": [("booking", "order")],
}
CLASS_NAMES = {"orders": "Order", "payment": "Payment", "money_movement": "MoneyMovement", "coupon_redemption": "CouponRedemption"}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    manager.rename_table(old_class_name="Booking", old_tablename="booking", new_class_name="Order", new_tablename="orders")
    for tablename, pairs in RENAMED.items():
        for old, new in pairs:
            manager.rename_column(
                table_class_name=CLASS_NAMES[tablename],
                tablename=tablename,
                old_column_name=old,
                new_column_name=new,
                old_db_column_name=old,
                new_db_column_name=new,
            )
    return manager
