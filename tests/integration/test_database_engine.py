"""What the database engine must do whatever Piccolo leaves out: foreign keys
hold in and out of write transactions (on SQLite they are a per-connection
setting; portal.piccolo_conf.PortalSQLiteEngine sets it once per connection)."""

from __future__ import annotations

import pytest

from portal.lib.db import CONFLICT_ERRORS, write_transaction
from portal.orders.tables import OrderLine

NO_SUCH_ORDER = 2_000_000_000


def _orphan_line() -> OrderLine:
    return OrderLine(
        order=NO_SUCH_ORDER, position=0, kind="appointment", offering=1, quantity=1, description="x", unit_price_ore=0, vat_rate_bp=0, price={}, details={}
    )


async def test_a_line_of_no_order_is_refused_outside_a_transaction(clean_bookings):
    with pytest.raises(CONFLICT_ERRORS):
        await OrderLine.insert(_orphan_line())
    assert not await OrderLine.exists().where(OrderLine.order == NO_SUCH_ORDER)


async def test_a_line_of_no_order_is_refused_inside_a_write_transaction_after_other_statements(clean_bookings):
    with pytest.raises(CONFLICT_ERRORS):
        async with write_transaction():
            await OrderLine.count()
            await OrderLine.insert(_orphan_line())
    assert not await OrderLine.exists().where(OrderLine.order == NO_SUCH_ORDER)
