"""Calendar feeds and the morning agenda: the use cases (each audited), the
queries behind `/kalender/<token>.ics` and the back office's page, and the job
the sweeper runs (`send_agendas`, also `portal agenda send`).

Who may: a staff actor acts only for its own supplier; the supplier's feed
and the phone-number choice are the owner's; anyone manages their own feed
and their own agenda (a calendar of their own needed for a feed). The handlers
check the same through the back office's guard; the use cases refuse
(NotAllowed) whatever a handler passes them.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from urllib.parse import quote

from portal.audit.domain import Actor, ActorKind, system
from portal.audit.service import after_commit, job, query, record, use_case
from portal.calendarfeed import domain
from portal.calendarfeed.domain import FeedBooking
from portal.calendarfeed.tables import CalendarFeed, StaffAgenda
from portal.catalogue.tables import Resource, Supplier
from portal.identity.staff.tables import StaffAccount, StaffMembership
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.lib.i18n import LANGUAGES, Nn_, translations
from portal.notify.messages import host_of, render
from portal.outbox import service as outbox
from portal.outbox.domain import Draft
from portal.outbox.tables import OutboxMessage
from portal.settings import load as load_settings
from portal.web.render import phone_text

log = logging.getLogger("portal.calendarfeed")

#: Who queues the agendas.
AGENDA_ACTOR = system("agenda")

AGENDA_SUBJECT = Nn_("Your day at %(supplier)s, %(day)s: %(num)d booking", "Your day at %(supplier)s, %(day)s: %(num)d bookings")


class NotAllowed(Exception):
    """This actor may not do that to this feed or agenda (or there is nothing to make a feed of)."""


def _scope(account_id: int | None) -> str:
    return "supplier" if account_id is None else "staff"


def _own(actor: Actor, supplier_id: int, account_id: int | None) -> None:
    """A staff actor acts for its own supplier: on the supplier's feed as owner, else on its own things."""
    if actor.kind is not ActorKind.STAFF:
        return
    if actor.supplier_id != supplier_id:
        raise NotAllowed()
    if account_id is None and not domain.may_manage_supplier_feed(actor.role):
        raise NotAllowed()
    if account_id is not None and str(account_id) != actor.id:
        raise NotAllowed()


async def _membership(account_id: int, supplier_id: int) -> dict | None:
    return await StaffMembership.select(StaffMembership.role, StaffMembership.resource).where(StaffMembership.key == f"{account_id}:{supplier_id}").first()


def _live(supplier_id: int, account_id: int | None):
    scope = CalendarFeed.account.is_null() if account_id is None else CalendarFeed.account == account_id
    return (CalendarFeed.supplier == supplier_id) & scope & CalendarFeed.revoked_at.is_null()


# ---------------------------------------------------------------- the back office's page


@query
async def feeds_of(supplier_id: int, account_id: int) -> dict:
    """The live feeds this member can see on the page: `supplier` (every
    calendar) and `own`, each {id, include_phone, created_at} or None."""
    out = {}
    for name, scope in (("supplier", None), ("own", account_id)):
        out[name] = await (
            CalendarFeed.select(CalendarFeed.id, CalendarFeed.include_phone, CalendarFeed.created_at)
            .where(_live(supplier_id, scope))
            .order_by(CalendarFeed.id, ascending=False)
            .first()
        )
    return out


@query
async def is_live(token: str, supplier_id: int, account_id: int | None) -> bool:
    """Is `token` the address of a live feed of this scope (a just-made address is shown only then)?"""
    return await CalendarFeed.exists().where((CalendarFeed.token_hash == domain.token_hash(token)) & _live(supplier_id, account_id))


@query
async def agenda_wanted(account_id: int, supplier_id: int) -> bool:
    row = await StaffAgenda.select(StaffAgenda.wanted).where(StaffAgenda.key == f"{account_id}:{supplier_id}").first()
    return bool(row and row["wanted"])


# ---------------------------------------------------------------- use cases


@use_case("feed.create")
async def create_feed(actor: Actor, *, supplier_id: int, account_id: int | None, now: datetime) -> str:
    """A new address for the supplier's feed (`account_id` None) or a member's
    own: any earlier one of the same feed stops at once (a "new address"); the
    phone-number choice carries over. Returns the token: shown once, never stored."""
    _own(actor, supplier_id, account_id)
    if account_id is not None:
        membership = await _membership(account_id, supplier_id)
        if membership is None or membership["resource"] is None:
            raise NotAllowed()  # no calendar of their own to show
    old = await CalendarFeed.select(CalendarFeed.id, CalendarFeed.include_phone).where(_live(supplier_id, account_id))
    if old:
        await CalendarFeed.update({CalendarFeed.revoked_at: now}).where(CalendarFeed.id.is_in([r["id"] for r in old]))
    token = domain.new_token()
    include_phone = any(r["include_phone"] for r in old)
    made = await CalendarFeed.insert(
        CalendarFeed(supplier=supplier_id, account=account_id, token_hash=domain.token_hash(token), include_phone=include_phone, created_at=now)
    ).returning(CalendarFeed.id)
    await record(
        actor, "feed.create", now=now, supplier_id=supplier_id, subject="calendar_feed", subject_id=made[0]["id"],
        after={"scope": _scope(account_id), "account": account_id, "include_phone": include_phone, "replaces": [r["id"] for r in old]},
    )  # fmt: skip
    return token


@use_case("feed.revoke")
async def revoke_feed(actor: Actor, *, supplier_id: int, account_id: int | None, now: datetime) -> bool:
    """Stop the feed: its address answers 404 from now on. False if none was live."""
    _own(actor, supplier_id, account_id)
    stopped = await CalendarFeed.update({CalendarFeed.revoked_at: now}).where(_live(supplier_id, account_id)).returning(CalendarFeed.id)
    if not stopped:
        return False
    await record(actor, "feed.revoke", now=now, supplier_id=supplier_id, subject="calendar_feed", subject_id=stopped[0]["id"], after={"scope": _scope(account_id), "account": account_id})
    return True


@use_case("feed.phone")
async def set_phone(actor: Actor, *, supplier_id: int, account_id: int | None, include_phone: bool, now: datetime) -> bool:
    """The owner's choice: customers' phone numbers in the feed's events, or not
    (the address stays). False if there is no live feed or nothing changed."""
    _own(actor, supplier_id, account_id)
    if actor.kind is ActorKind.STAFF and not domain.may_choose_phone(actor.role):
        raise NotAllowed()
    changed = await CalendarFeed.update({CalendarFeed.include_phone: include_phone}).where(
        _live(supplier_id, account_id) & (CalendarFeed.include_phone != include_phone)
    ).returning(CalendarFeed.id)
    if not changed:
        return False
    await record(actor, "feed.phone", now=now, supplier_id=supplier_id, subject="calendar_feed", subject_id=changed[0]["id"], after={"include_phone": include_phone})
    return True


@use_case("agenda.choose")
async def choose_agenda(actor: Actor, *, supplier_id: int, account_id: int, wanted: bool, now: datetime) -> bool:
    """Turn one's own morning agenda on or off. False if nothing changed."""
    _own(actor, supplier_id, account_id)
    if await _membership(account_id, supplier_id) is None:
        raise NotAllowed()
    key = f"{account_id}:{supplier_id}"
    row = await StaffAgenda.select(StaffAgenda.wanted).where(StaffAgenda.key == key).first()
    if row is not None and row["wanted"] == wanted:
        return False
    if row is None:
        await StaffAgenda.insert(StaffAgenda(key=key, account=account_id, supplier=supplier_id, wanted=wanted, updated_at=now))
    else:
        await StaffAgenda.update({StaffAgenda.wanted: wanted, StaffAgenda.updated_at: now}).where(StaffAgenda.key == key)
    await record(actor, "agenda.choose", now=now, supplier_id=supplier_id, subject="staff", subject_id=account_id, after={"wanted": wanted})
    return True


# ---------------------------------------------------------------- bookings


async def _bookings(supplier_id: int, resource_id: int | None, start: datetime, end: datetime, *, limit: int) -> list[dict]:
    """The supplier's shown bookings starting in [start, end), on one calendar or all, by start."""
    query = (
        Reservation.select(
            Reservation.id,
            Reservation.order,
            Reservation.resource,
            Reservation.start,
            Reservation.end,
            Reservation.status,
            Reservation.ics_sequence,
            Reservation.updated_at,
            Reservation.offering.title,
            Reservation.offering.online,
            Reservation.resource.name,
            Reservation.order.reference,
            Reservation.order.customer_name,
            Reservation.order.phone,
            Reservation.order.note,
        )
        .where(
            (Reservation.supplier == supplier_id)
            & (Reservation.start >= start)
            & (Reservation.start < end)
            & Reservation.status.is_in(list(domain.SHOWN))
            & Reservation.order.state.is_in(list(domain.SHOWN))
        )
        .order_by(Reservation.start)
        .order_by(Reservation.id)
        .limit(limit)
    )
    if resource_id is not None:
        query = query.where(Reservation.resource == resource_id)
    return await query


def _booking(row: dict, *, with_phone: bool) -> FeedBooking:
    return FeedBooking(
        reservation_id=row["id"],
        order_id=row["order"],
        reference=row["order.reference"],
        start=row["start"],
        end=row["end"],
        sequence=row["ics_sequence"] or 0,
        updated_at=row["updated_at"],
        service=row["offering.title"],
        customer_name=row["order.customer_name"] or "",
        customer_note=row["order.note"] or "",
        customer_phone=phone_text(row["order.phone"]) if with_phone and row["order.phone"] else "",
        resource_name=row["resource.name"] or "",
        online=bool(row["offering.online"]),
        status=row["status"],
    )


def _order_url(base_url: str, slug: str, order_id: int) -> str:
    return f"{base_url}/kontor/{quote(slug, safe='')}/ordre/{order_id}"


# ---------------------------------------------------------------- the feed itself


@query
async def feed_calendar(token: str, now: datetime) -> bytes | None:
    """The .ics of a live feed, or None (unknown or stopped token, or a member
    who no longer works there)."""
    feed = await CalendarFeed.select().where((CalendarFeed.token_hash == domain.token_hash(token)) & CalendarFeed.revoked_at.is_null()).first()
    if feed is None:
        return None
    supplier = await Supplier.select(Supplier.id, Supplier.slug, Supplier.name, Supplier.street, Supplier.postcode, Supplier.town).where(Supplier.id == feed["supplier"]).first()
    if supplier is None:
        return None
    name, resource_id = supplier["name"], None
    if feed["account"] is not None:
        membership = await _membership(feed["account"], supplier["id"])
        account = await StaffAccount.select(StaffAccount.disabled_at).where(StaffAccount.id == feed["account"]).first()
        if membership is None or account is None or account["disabled_at"] is not None:
            return None
        resource_id = membership["resource"]
        resource = await Resource.select(Resource.name).where((Resource.id == resource_id) & (Resource.supplier == supplier["id"])).first() if resource_id else None
        name = f"{resource['name']} – {supplier['name']}" if resource else supplier["name"]
    start, end = domain.window(now)
    rows = await _bookings(supplier["id"], resource_id, start, end, limit=domain.MAX_EVENTS) if feed["account"] is None or resource_id else []
    base_url = load_settings().base_url
    return domain.feed_ics(
        name=name,
        bookings=[_booking(r, with_phone=feed["include_phone"]) for r in rows],
        host=host_of(base_url),
        address=f"{supplier['street']}, {supplier['postcode']} {supplier['town']}".strip(", "),
        backoffice_url=lambda b: _order_url(base_url, supplier["slug"], b.order_id),
        show_resource=feed["account"] is None,
    )


# ---------------------------------------------------------------- the morning agenda


def _agenda_draft(account: dict, supplier: dict, day: date, bookings: list[FeedBooking], now: datetime, *, whole: bool) -> Draft:
    language = account["language"] if account["language"] in LANGUAGES else "nb"
    t = translations(language)
    base_url = load_settings().base_url
    day_text = clock.fmt_date(day, language)
    count = len(bookings)
    subject = t.ngettext(*AGENDA_SUBJECT, count) % {"supplier": supplier["name"], "day": day_text, "num": count}
    rows = [
        {
            "time": f"{clock.fmt_time(b.start, language)}–{clock.fmt_time(b.end, language)}",
            "what": b.service,
            "customer": b.customer_name or b.reference,
            "note": b.customer_note,
            "who": b.resource_name if whole else "",
            "state": t.gettext(domain.STATE_TEXT[b.status]) if b.status in domain.STATE_TEXT else "",
            "url": _order_url(base_url, supplier["slug"], b.order_id),
        }
        for b in bookings
    ]
    slug = quote(supplier["slug"], safe="")
    context = {
        "subject": subject,
        "name": account["name"],
        "supplier_name": supplier["name"],
        "day_text": day_text,
        "bookings": rows,
        "whole": whole,
        "day_url": f"{base_url}/kontor/{slug}?dato={day.isoformat()}",
        "settings_url": f"{base_url}/kontor/{slug}/kalender",
    }
    return Draft(
        channel="email",
        topic="agenda",
        recipient=account["email"],
        dedupe_key=domain.agenda_dedupe_key(account["id"], supplier["id"], day),
        language=language,
        payload={
            "subject": subject,
            "text": render("email/agenda.txt", language, **context),
            "html": render("email/agenda.html", language, **context),
            "expires_at": domain.agenda_stale_at(day).isoformat(),
        },
        next_attempt_at=now,
    )


@use_case("agenda.queue")
async def queue_agenda(actor: Actor, *, supplier_id: int, account_id: int, day: date, now: datetime) -> bool:
    """Queue one member's agenda for `day`, if they want it, still work there
    and their calendar (the whole supplier's for owners and the front desk)
    has bookings that day. Once per member and day (the outbox's dedupe key);
    False when nothing was queued."""
    key = domain.agenda_dedupe_key(account_id, supplier_id, day)
    if await OutboxMessage.exists().where(OutboxMessage.dedupe_key == key):
        return False
    if not await agenda_wanted(account_id, supplier_id):
        return False
    membership = await _membership(account_id, supplier_id)
    account = await StaffAccount.select(StaffAccount.id, StaffAccount.email, StaffAccount.name, StaffAccount.language, StaffAccount.disabled_at).where(StaffAccount.id == account_id).first()
    if membership is None or account is None or account["disabled_at"] is not None:
        return False
    whole = domain.sees_all(membership["role"])
    if not whole and membership["resource"] is None:
        return False
    supplier = await Supplier.select(Supplier.id, Supplier.slug, Supplier.name).where(Supplier.id == supplier_id).first()
    start, end = domain.day_bounds(day)
    rows = await _bookings(supplier_id, None if whole else membership["resource"], start, end, limit=domain.MAX_EVENTS)
    if not rows:
        return False
    bookings = [_booking(r, with_phone=False) for r in rows]
    await outbox.insert([_agenda_draft(account, supplier, day, bookings, now, whole=whole)], now)
    after_commit(outbox.wake)
    await record(actor, "agenda.queue", now=now, supplier_id=supplier_id, subject="staff", subject_id=account_id, after={"day": day.isoformat(), "bookings": len(bookings)})
    return True


def _chunks(items: list, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i : i + size]


@job
async def send_agendas(now: datetime, *, actor: Actor = AGENDA_ACTOR) -> int:
    """From 07:00 Europe/Oslo: queue today's agenda for every member who wants
    one and has bookings on their calendar today. Cheap to run every half
    minute: four reads find who is still due; each agenda is then its own use
    case. Returns how many were queued."""
    day = domain.agenda_day(now)
    if day is None:
        return 0
    choices = await StaffAgenda.select(StaffAgenda.account, StaffAgenda.supplier).where(StaffAgenda.wanted == True)  # noqa: E712 - SQL
    if not choices:
        return 0
    keys = {domain.agenda_dedupe_key(c["account"], c["supplier"], day): c for c in choices}
    done = set()
    for part in _chunks(list(keys)):
        done |= {r["dedupe_key"] for r in await OutboxMessage.select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.is_in(part))}
    due = [c for k, c in keys.items() if k not in done]
    if not due:
        return 0
    start, end = domain.day_bounds(day)
    busy: dict[int, set[int]] = {}
    for part in _chunks(sorted({c["supplier"] for c in due})):
        rows = await Reservation.select(Reservation.supplier, Reservation.resource).where(
            Reservation.supplier.is_in(part) & (Reservation.start >= start) & (Reservation.start < end) & Reservation.status.is_in(list(domain.SHOWN))
        )
        for r in rows:
            busy.setdefault(r["supplier"], set()).add(r["resource"])
    members = {}
    for part in _chunks([f"{c['account']}:{c['supplier']}" for c in due]):
        members |= {m["key"]: m for m in await StaffMembership.select(StaffMembership.key, StaffMembership.role, StaffMembership.resource).where(StaffMembership.key.is_in(part))}
    queued = 0
    for c in due:
        member = members.get(f"{c['account']}:{c['supplier']}")
        calendars = busy.get(c["supplier"], set())
        if member is None or not (calendars if domain.sees_all(member["role"]) else member["resource"] in calendars):
            continue  # no bookings on their calendar today
        try:
            queued += bool(await queue_agenda(actor, supplier_id=c["supplier"], account_id=c["account"], day=day, now=now))
        except Exception:  # noqa: BLE001 - one member's agenda must not stop the others'
            log.exception("agenda for account %s at supplier %s failed", c["account"], c["supplier"])
    return queued
