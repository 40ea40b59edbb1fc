"""Opening hours in the back office (owners): one calendar's week of hours
and breaks, its dated exceptions, and the public holidays ahead. Handlers
parse the form, check it with portal.availability.hours, call the use cases
of portal.kinds.appointment.schedule and render; a refused change (bad
input, a stale form, bookings left outside) re-renders and changes nothing."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from portal.availability import hours as rules
from portal.availability.domain import DayException
from portal.availability.holidays import norwegian_holidays
from portal.backoffice import access, common
from portal.backoffice.access import Workplace
from portal.identity.staff.domain import Permission
from portal.kinds.appointment import schedule
from portal.lib import clock
from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.web.render import page

FORM = common.FORM
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"), N_("Sunday"))
#: Rows of one kind per day the form reads (it shows the day's rows and one empty).
MAX_ROWS = 8
MAX_NOTE = 200
_ROW = re.compile(r"^([ob])-([0-6])-([0-9])-start$")

STALE = N_("These hours were changed in the meantime (in another tab, or by someone else). Nothing was saved: below are the hours as they are now. Make your change again.")
NOTE_TOO_LONG = N_("The note can be at most 200 characters.")
SAVED = {"uke": N_("The opening hours are saved. Customers see the new times at once."), "unntak": N_("The date is saved."), "fjernet": N_("The date is removed.")}


def _int(raw: object) -> int | None:
    text = raw if isinstance(raw, str) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def _version(data: dict) -> int:
    """The calendar version the form was made from; a form without one is stale (-1)."""
    value = _int(data.get("version"))
    return -1 if value is None else value


def _hhmm(value: object) -> str:
    if value is None or value == "":
        return ""
    t = value if isinstance(value, time) else time.fromisoformat(str(value))
    return f"{t:%H:%M}"


def _rows_of(hours: list[dict], breaks: list[dict]) -> dict[int, dict[str, list[dict]]]:
    """The stored week as form rows: per weekday, its opening intervals and breaks."""
    week: dict[int, dict[str, list[dict]]] = {wd: {"o": [], "b": []} for wd in range(7)}
    for kind, rows in (("o", hours), ("b", breaks)):
        for row in rows:
            week[row["weekday"]][kind].append({"start": _hhmm(row["start"]), "end": _hhmm(row["end"])})
    return _with_keys(week)


def _with_keys(week: dict[int, dict[str, list[dict]]]) -> dict[int, dict[str, list[dict]]]:
    """Number each row (its field names) and add one empty row per kind and day."""
    out: dict[int, dict[str, list[dict]]] = {}
    for wd, kinds in week.items():
        out[wd] = {}
        for kind, rows in kinds.items():
            filled = [r for r in rows if r["start"] or r["end"]][: MAX_ROWS - 1]
            out[wd][kind] = [{**r, "key": f"{kind}-{wd}-{i}"} for i, r in enumerate([*filled, {"start": "", "end": ""}])]
    return out


def _typed_week(data: dict) -> tuple[list[rules.IntervalInput], dict[int, dict[str, list[dict]]]]:
    """The week form as sent: the rows to check, and the same rows to show again."""
    inputs: list[rules.IntervalInput] = []
    for name in sorted(data):
        match = _ROW.match(name)
        if not match:
            continue
        kind, wd, i = match.group(1), int(match.group(2)), int(match.group(3))
        if i >= MAX_ROWS:
            continue
        key = f"{kind}-{wd}-{i}"
        inputs.append(rules.IntervalInput(key=key, weekday=wd, start=form_text(data, f"{key}-start", 10), end=form_text(data, f"{key}-end", 10), is_break=kind == "b"))
    week: dict[int, dict[str, list[dict]]] = {wd: {"o": [], "b": []} for wd in range(7)}
    for row in sorted(inputs, key=lambda r: r.key):
        week[row.weekday]["b" if row.is_break else "o"].append({"start": row.start, "end": row.end, "typed_key": row.key})
    return inputs, week


def _renumber_errors(week: dict[int, dict[str, list[dict]]], errors: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """Rows shown again are renumbered; their messages follow them."""
    moved: dict[str, str] = {}
    for wd, kinds in week.items():
        for kind, rows in kinds.items():
            filled = [r for r in rows if r["start"] or r["end"]]
            for i, r in enumerate(filled):
                if r.get("typed_key") in errors:
                    moved[f"{kind}-{wd}-{i}"] = errors[r["typed_key"]]
    return _with_keys(week), moved


async def _chosen(wp: Workplace, raw: object) -> tuple[list[dict], dict | None]:
    """The supplier's calendars and the one asked for (the first when none is); another supplier's id is 404."""
    calendars = await schedule.calendars(wp.supplier["id"])
    wanted = _int(raw)
    if raw not in (None, "") and (wanted is None or wanted not in {c["id"] for c in calendars}):
        raise NotFoundException()
    chosen = next((c for c in calendars if c["id"] == wanted), calendars[0] if calendars else None)
    return calendars, chosen


def _exception_view(row: dict) -> dict:
    return {**row, "start_text": _hhmm(row["start"]), "end_text": _hhmm(row["end"]) if row["end"] is not None else ""}


async def _page(
    request: Request,
    wp: Workplace,
    calendars: list[dict],
    chosen: dict | None,
    *,
    status_code: int = 200,
    week: dict | None = None,
    week_errors: dict[str, str] | None = None,
    exception_values: dict | None = None,
    exception_errors: dict[str, str] | None = None,
    orphans: list[dict] | None = None,
    stale: bool = False,
    saved: str | None = None,
) -> object:
    today = clock.local_today()
    context: dict = {**common.base(wp), "calendars": calendars, "chosen": chosen, "weekdays": WEEKDAYS, "today": today}
    if chosen is not None:
        current = await schedule.calendar(wp.supplier["id"], chosen["id"])  # its version now
        hours, breaks = await schedule.week_of(chosen["id"])
        context.update(
            chosen=current,
            week=week if week is not None else _rows_of(hours, breaks),
            exceptions=[_exception_view(e) for e in await schedule.exceptions_of(chosen["id"], today)],
            holidays=sorted(norwegian_holidays(today, today + timedelta(days=365))),
            holiday_offerings=await schedule.open_on_holidays(chosen["id"]),
        )
    return page(
        request,
        "pages/backoffice/hours/hours.html",
        status_code=status_code,
        **context,
        week_errors=week_errors or {},
        exception_values=exception_values or {"kind": "closed"},
        exception_errors=exception_errors or {},
        orphans=orphans or [],
        stale=stale,
        saved=SAVED.get(saved or ""),
        max_note=MAX_NOTE,
    )


def _back(slug: str, resource_id: int, saved: str, anchor: str = "") -> Redirect:
    return Redirect(path=f"/kontor/{slug}/innstillinger/timer?ressurs={resource_id}&lagret={saved}{anchor}", status_code=303)


@get("/kontor/{slug:str}/innstillinger/timer", name="bo_hours")
async def hours_page(request: Request, slug: str, ressurs: str | None = None, lagret: str | None = None) -> object:
    wp = await access.workplace(request, slug, Permission.SETTINGS)
    calendars, chosen = await _chosen(wp, ressurs)
    return await _page(request, wp, calendars, chosen, saved=lagret)


@post("/kontor/{slug:str}/innstillinger/timer/uke", name="bo_hours_week")
async def week_post(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.SETTINGS)
    calendars, chosen = await _chosen(wp, data.get("ressurs") or "x")
    inputs, typed = _typed_week(data)
    hours, breaks, errors = rules.check_week(inputs)
    if errors:
        week, moved = _renumber_errors(typed, errors)
        return await _page(request, wp, calendars, chosen, status_code=422, week=week, week_errors=moved)
    try:
        await schedule.set_week(
            wp.actor, supplier_id=wp.supplier["id"], resource_id=chosen["id"], version=_version(data), hours=hours, breaks=breaks, now=clock.now()
        )
    except schedule.Stale:
        return await _page(request, wp, calendars, chosen, status_code=409, stale=True)
    except schedule.Orphans as refused:
        week, _ = _renumber_errors(typed, {})
        return await _page(request, wp, calendars, chosen, status_code=409, week=week, orphans=refused.bookings)
    except LookupError:
        raise NotFoundException() from None
    return _back(slug, chosen["id"], "uke")


def _existing(rows: list[dict]) -> list[DayException]:
    out = []
    for r in rows:
        start = time.fromisoformat(str(r["start"])) if r["start"] is not None else None
        end = time.fromisoformat(str(r["end"])) if r["end"] is not None else None
        out.append(DayException(day=r["day"] if isinstance(r["day"], date) else date.fromisoformat(str(r["day"])), closed=r["closed"], hours=((start, end),) if start and end and not r["closed"] else ()))
    return out


@post("/kontor/{slug:str}/innstillinger/timer/unntak", name="bo_hours_exception")
async def exception_post(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.SETTINGS)
    calendars, chosen = await _chosen(wp, data.get("ressurs") or "x")
    values = {
        "day": form_text(data, "day", 20),
        "kind": "hours" if form_text(data, "kind", 10) == "hours" else "closed",
        "start": form_text(data, "start", 10),
        "end": form_text(data, "end", 10),
        "note": form_text(data, "note", MAX_NOTE),
    }
    today = clock.local_today()
    exception, errors = rules.check_exception(
        rules.ExceptionInput(day=values["day"], closed=values["kind"] == "closed", start=values["start"], end=values["end"]),
        today=today,
        existing=_existing(await schedule.exceptions_of(chosen["id"], today)),
    )
    if len(values["note"]) > MAX_NOTE:
        errors["note"] = NOTE_TOO_LONG
    if errors:
        return await _page(request, wp, calendars, chosen, status_code=422, exception_values=values, exception_errors=errors)
    try:
        await schedule.add_exception(
            wp.actor, supplier_id=wp.supplier["id"], resource_id=chosen["id"], version=_version(data), exception=exception, note=values["note"], now=clock.now()
        )
    except schedule.Stale:
        return await _page(request, wp, calendars, chosen, status_code=409, stale=True, exception_values=values)
    except schedule.Orphans as refused:
        return await _page(request, wp, calendars, chosen, status_code=409, orphans=refused.bookings, exception_values=values)
    except LookupError:
        raise NotFoundException() from None
    return _back(slug, chosen["id"], "unntak", "#dates")


@post("/kontor/{slug:str}/innstillinger/timer/unntak/{exception_id:int}/fjern", name="bo_hours_exception_remove")
async def exception_remove(request: Request, slug: str, exception_id: int, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.SETTINGS)
    calendars, chosen = await _chosen(wp, data.get("ressurs") or "x")
    try:
        await schedule.remove_exception(
            wp.actor, supplier_id=wp.supplier["id"], resource_id=chosen["id"], version=_version(data), exception_id=exception_id, now=clock.now()
        )
    except schedule.Stale:
        return await _page(request, wp, calendars, chosen, status_code=409, stale=True)
    except schedule.Orphans as refused:
        return await _page(request, wp, calendars, chosen, status_code=409, orphans=refused.bookings)
    except LookupError:
        raise NotFoundException() from None
    return _back(slug, chosen["id"], "fjernet", "#dates")


ROUTES = [hours_page, week_post, exception_post, exception_remove]
