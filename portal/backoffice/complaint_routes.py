"""Complaints in the back office (L23): the list with its statuses, one
complaint with its photo and the answer form, and the photo itself. The list
and the answer are for those who see every calendar (owner, front desk);
whoever may see the booking sees its complaints on the booking page and the
photo. Another supplier's complaint is 404."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Response

from portal.backoffice import access, common, views
from portal.backoffice.access import Workplace
from portal.complaints import domain
from portal.complaints import service as complaints
from portal.identity.staff.domain import Permission
from portal.lib import clock
from portal.lib.forms import form_text
from portal.web.render import page

FORM = common.FORM


async def _complaint(wp: Workplace, complaint_id: int) -> dict:
    found = await complaints.get(complaint_id, wp.supplier["id"])
    if found is None:
        raise NotFoundException()
    return found


@get("/kontor/{slug:str}/klager", name="bo_complaints")
async def complaints_page(request: Request, slug: str, status: str | None = None) -> object:
    wp = await access.workplace(request, slug, Permission.SEE_ALL_CALENDARS)
    shown = status if status in {s.value for s in domain.Status} else None
    return page(
        request,
        "pages/backoffice/complaints/list.html",
        **common.base(wp),
        complaints=await complaints.of_supplier(wp.supplier["id"], shown),
        counts=await complaints.counts(wp.supplier["id"]),
        shown=shown,
        statuses=list(domain.Status),
        status_labels=domain.STATUS_LABELS,
    )


async def _complaint_page(request: Request, wp: Workplace, complaint: dict, *, errors: dict | None = None, values: dict | None = None, status_code: int = 200) -> object:
    return page(
        request,
        "pages/backoffice/complaints/complaint.html",
        status_code=status_code,
        **common.base(wp),
        complaint=complaint,
        status_labels=domain.STATUS_LABELS,
        errors=errors or {},
        values=values or {},
        max_answer=domain.MAX_ANSWER,
    )


@get("/kontor/{slug:str}/klager/{complaint_id:int}", name="bo_complaint")
async def complaint_page(request: Request, slug: str, complaint_id: int) -> object:
    wp = await access.workplace(request, slug, Permission.SEE_ALL_CALENDARS)
    return await _complaint_page(request, wp, await _complaint(wp, complaint_id))


@post("/kontor/{slug:str}/klager/{complaint_id:int}", name="bo_complaint_act")
async def complaint_post(request: Request, slug: str, complaint_id: int, data: dict = FORM) -> object:
    """`action=answer` with the answer's text (emailed to the customer), or `action=close`."""
    wp = await access.workplace(request, slug, Permission.SEE_ALL_CALENDARS)
    complaint = await _complaint(wp, complaint_id)
    action = data.get("action")
    text = form_text(data, "answer", domain.MAX_ANSWER)
    try:
        if action == "answer":
            if (problem := domain.text_problem(text, empty=domain.ANSWER_FIRST, limit=domain.MAX_ANSWER)) is not None:
                return await _complaint_page(request, wp, complaint, errors={"answer": problem}, values={"answer": text}, status_code=422)
            await complaints.answer(wp.actor, complaint_id, text, clock.now())
        elif action == "close":
            await complaints.close(wp.actor, complaint_id, clock.now())
        else:
            raise NotFoundException()
    except complaints.NoSuchComplaint as exc:
        raise NotFoundException() from exc
    except complaints.NotAllowed as refused:
        return await _complaint_page(request, wp, await _complaint(wp, complaint_id), errors={"form": refused.message}, values={"answer": text}, status_code=409)
    return Redirect(path=f"/kontor/{slug}/klager/{complaint_id}", status_code=303)


@get("/kontor/{slug:str}/klager/{complaint_id:int}/bilde", name="bo_complaint_photo")
async def complaint_photo(request: Request, slug: str, complaint_id: int) -> Response:
    """The complaint's photo, for staff who may see its booking: its checked
    type, shown inline, never sniffed as anything else, never cached."""
    wp = await access.workplace(request, slug)
    complaint = await _complaint(wp, complaint_id)
    if await views.order_of(wp, complaint["order"]) is None:
        raise NotFoundException()
    found = await complaints.photo_of(complaint_id, wp.supplier["id"])
    if found is None:
        raise NotFoundException()
    media_type, content = found
    extension = domain.EXTENSIONS[complaint["photo_format"]]
    return Response(
        content=content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'inline; filename="klage-{complaint_id}.{extension}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


ROUTES = [complaints_page, complaint_page, complaint_post, complaint_photo]


async def order_context(order: dict) -> dict:
    """What the booking page's complaints section reads (templates/pages/backoffice/_order_complaints.html)."""
    return {"complaints": await complaints.of_order(order["id"]), "complaint_labels": domain.STATUS_LABELS}
