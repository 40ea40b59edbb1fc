"""The team in the back office (owners): who works here with which role and
calendar, inviting someone, changing a member's role or calendar, ending a
membership, and adding a calendar (a staff member's or a room's). Handlers
parse, call portal.identity.staff (service.invite, team) and
portal.kinds.appointment.schedule, and render; a refusal re-renders and
changes nothing."""

from __future__ import annotations

from functools import partial

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from portal.backoffice import access, common
from portal.backoffice.access import Workplace
from portal.identity.staff import roster, team
from portal.identity.staff import service as staff
from portal.identity.staff.domain import Permission, Role
from portal.kinds.appointment import schedule
from portal.lib import clock
from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.web.render import page

FORM = common.FORM
ROLE_HINTS = {
    Role.OWNER.value: N_("everything: settings, staff, money, reports"),
    Role.FRONT_DESK.value: N_("every calendar and booking, no settings or money reports"),
    Role.STAFF.value: N_("their own calendar and bookings"),
}
ALREADY_MEMBER = N_("That person is on the team already.")
CALENDAR_NAME_REQUIRED = N_("Write the name of the person or the room.")
CALENDAR_NAME_TOO_LONG = N_("The name can be at most 120 characters.")
DONE = {
    "invitert": N_("The invitation is on its way by email. The link works for 7 days."),
    "endret": N_("The change is saved."),
    "fjernet": N_("The person is no longer on the team."),
}


def _foreign_calendar(raw: str, calendars: list[int]) -> bool:
    """A calendar id that is not one of this supplier's (a tampered or stale form): 404, as every id from elsewhere."""
    return raw.isascii() and raw.isdigit() and len(raw) < 10 and int(raw) not in calendars


def _base(slug: str) -> str:
    return f"/kontor/{slug}/innstillinger/ansatte"


async def _page(
    request: Request,
    wp: Workplace,
    *,
    status_code: int = 200,
    invite_values: dict | None = None,
    invite_errors: dict[str, str] | None = None,
    member_errors: dict[int, str] | None = None,
    member_values: dict[int, dict] | None = None,
    calendar_values: dict | None = None,
    calendar_errors: dict[str, str] | None = None,
    done: str | None = None,
) -> object:
    return page(
        request,
        "pages/backoffice/team/team.html",
        status_code=status_code,
        **common.base(wp),
        members=await team.members(wp.supplier["id"]),
        calendars=await schedule.calendars(wp.supplier["id"]),
        role_hints=ROLE_HINTS,
        invite_values=invite_values or {"role": Role.STAFF.value},
        invite_errors=invite_errors or {},
        member_errors=member_errors or {},
        member_values=member_values or {},
        calendar_values=calendar_values or {},
        calendar_errors=calendar_errors or {},
        done=DONE.get(done or ""),
    )


@get("/kontor/{slug:str}/innstillinger/ansatte", name="bo_team")
async def team_page(request: Request, slug: str, ok: str | None = None) -> object:
    wp = await access.workplace(request, slug, Permission.STAFF)
    return await _page(request, wp, done=ok)


@post("/kontor/{slug:str}/innstillinger/ansatte/inviter", name="bo_team_invite")
async def invite_post(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.STAFF)
    values = {k: form_text(data, k, limit) for k, limit in (("email", 254), ("name", roster.MAX_NAME), ("role", 20), ("resource", 12))}
    calendars = [c["id"] for c in await schedule.calendars(wp.supplier["id"])]
    if _foreign_calendar(values["resource"], calendars):
        raise NotFoundException()
    taken = [m["resource_id"] for m in await team.members(wp.supplier["id"]) if m["resource_id"] is not None]
    invitation, errors = roster.check_invitation(values, calendars=calendars, taken=taken)
    if invitation is not None:
        _, problem = await staff.invite(
            wp.actor, supplier_id=wp.supplier["id"], email=invitation.email, name=invitation.name, role=invitation.role, resource_id=invitation.resource_id, now=clock.now()
        )
        if problem is staff.InviteProblem.ALREADY_MEMBER:
            errors["email"] = ALREADY_MEMBER
        elif problem is staff.InviteProblem.RESOURCE_ELSEWHERE:
            errors["resource"] = roster.BAD_CALENDAR
    if errors:
        return await _page(request, wp, status_code=422, invite_values=values, invite_errors=errors)
    return Redirect(path=f"{_base(slug)}?ok=invitert", status_code=303)


@post("/kontor/{slug:str}/innstillinger/ansatte/kalender", name="bo_team_calendar")
async def calendar_post(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.STAFF)
    values = {"name": form_text(data, "name", schedule.MAX_NAME), "title": form_text(data, "title", schedule.MAX_NAME)}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = CALENDAR_NAME_REQUIRED
    elif len(values["name"]) > schedule.MAX_NAME:
        errors["name"] = CALENDAR_NAME_TOO_LONG
    if len(values["title"]) > schedule.MAX_NAME:
        errors["title"] = CALENDAR_NAME_TOO_LONG
    if errors:
        return await _page(request, wp, status_code=422, calendar_values=values, calendar_errors=errors)
    made = await schedule.add_calendar(wp.actor, supplier_id=wp.supplier["id"], name=values["name"], title=values["title"], now=clock.now())
    return Redirect(path=f"/kontor/{slug}/innstillinger/timer?ressurs={made.id}", status_code=303)


@post("/kontor/{slug:str}/innstillinger/ansatte/{account_id:int}", name="bo_team_change")
async def change_post(request: Request, slug: str, account_id: int, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.STAFF)
    if await team.member(wp.supplier["id"], account_id) is None:
        raise NotFoundException()
    values = {"role": form_text(data, "role", 20), "resource": form_text(data, "resource", 12)}
    calendars = [c["id"] for c in await schedule.calendars(wp.supplier["id"])]
    if _foreign_calendar(values["resource"], calendars):
        raise NotFoundException()
    role = roster.parse_role(values["role"])
    resource_id, ok = roster.parse_calendar(values["resource"], calendars)
    problem: str | None = None
    if role is None:
        problem = roster.BAD_ROLE
    elif not ok:
        problem = roster.BAD_CALENDAR
    else:
        refused = await team.change_member(wp.actor, supplier_id=wp.supplier["id"], account_id=account_id, role=role, resource_id=resource_id, now=clock.now())
        problem = team.PROBLEM_TEXT[refused] if refused else None
    if problem:
        return await _page(request, wp, status_code=422, member_errors={account_id: problem}, member_values={account_id: values})
    if account_id == wp.user.account_id and role is not Role.OWNER:
        return Redirect(path=f"/kontor/{slug}", status_code=303)  # no longer allowed here
    return Redirect(path=f"{_base(slug)}?ok=endret#m{account_id}", status_code=303)


async def _remove_page(request: Request, wp: Workplace, member: dict, *, status_code: int = 200, problem: str | None = None, blocking: list[dict] | None = None) -> object:
    return page(
        request,
        "pages/backoffice/team/remove.html",
        status_code=status_code,
        **common.base(wp),
        member=member,
        problem=problem,
        blocking=blocking or [],
    )


async def _member(wp: Workplace, account_id: int) -> dict:
    member = await team.member(wp.supplier["id"], account_id)
    if member is None:
        raise NotFoundException()
    return member


@get("/kontor/{slug:str}/innstillinger/ansatte/{account_id:int}/fjern", name="bo_team_remove_confirm")
async def remove_page(request: Request, slug: str, account_id: int) -> object:
    wp = await access.workplace(request, slug, Permission.STAFF)
    member = await _member(wp, account_id)
    blocking = await schedule.future_bookings(wp.supplier["id"], member["resource_id"], clock.now()) if member["resource_id"] else []
    return await _remove_page(request, wp, member, blocking=blocking)


@post("/kontor/{slug:str}/innstillinger/ansatte/{account_id:int}/fjern", name="bo_team_remove")
async def remove_post(request: Request, slug: str, account_id: int) -> object:
    wp = await access.workplace(request, slug, Permission.STAFF)
    member = await _member(wp, account_id)
    now = clock.now()
    problem, blocking = await team.remove_member(
        wp.actor, supplier_id=wp.supplier["id"], account_id=account_id, bookings_of=partial(schedule.future_bookings, wp.supplier["id"], now=now), now=now
    )
    if problem is not None:
        return await _remove_page(request, wp, member, status_code=409, problem=team.PROBLEM_TEXT[problem], blocking=blocking)
    if account_id == wp.user.account_id:
        return Redirect(path="/kontor", status_code=303)
    return Redirect(path=f"{_base(slug)}?ok=fjernet", status_code=303)


ROUTES = [team_page, invite_post, calendar_post, change_post, remove_page, remove_post]
