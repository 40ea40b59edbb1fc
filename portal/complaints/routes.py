"""The customer's complaint form, for whoever holds the order's private link
(`/b/<token>/klage`). A multipart form (the description and an optional
photo, CSRF token as a form field); the photo is checked by its bytes and
re-encoded before the use case stores it. Bad input re-renders the form
(422) with the message next to the field, and nothing is stored."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect

from portal.audit import domain as actors
from portal.catalogue.tables import Supplier
from portal.complaints import domain, images
from portal.complaints import service as complaints
from portal.lib import clock
from portal.lib.forms import form_text
from portal.orders import service as orders
from portal.web.render import page
from portal.web.security import visitor_of

MULTIPART = Body(media_type=RequestEncodingType.MULTI_PART)


async def _order(token: str) -> dict:
    order = await orders.by_manage_token(token)
    if order is None:
        raise NotFoundException()
    return order


async def _form(request: Request, order: dict, *, errors: dict | None = None, values: dict | None = None, status_code: int = 200) -> object:
    supplier = await Supplier.select(Supplier.name, Supplier.legal_name).where(Supplier.id == order["supplier"]).first()
    return page(
        request,
        "pages/sales/complaint.html",
        status_code=status_code,
        order=order,
        supplier=supplier,
        errors=errors or {},
        values=values or {},
        max_text=domain.MAX_TEXT,
        accepted=",".join(domain.MEDIA_TYPES.values()),
        **await complaints.order_context(order, clock.now()),
    )


async def _upload(value: Any) -> bytes | None:
    """The bytes of the file field, or None when no file was chosen; at most one byte over the limit is read."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, UploadFile):
        return None
    data = await value.read(domain.MAX_PHOTO_BYTES + 1)
    await value.close()
    return data if (data or value.filename) else None


def _text(value: Any) -> str:
    """A text field's value; a file sent under a text field's name counts as empty."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


@get("/b/{token:str}/klage", name="complaint_form")
async def complaint_form(request: Request, token: str) -> object:
    return await _form(request, await _order(token))


@post("/b/{token:str}/klage", name="complaint_send")
async def complaint_send(request: Request, token: str, data: dict[str, Any] = MULTIPART) -> object:
    order = await _order(token)
    text = form_text({"text": _text(data.get("text"))}, "text", domain.MAX_TEXT)
    errors: dict[str, str] = {}
    if (problem := domain.text_problem(text)) is not None:
        errors["text"] = problem
    raw = await _upload(data.get("photo"))
    photo = None
    if raw is not None:
        if (problem := domain.photo_problem(raw)) is not None:
            errors["photo"] = problem
        elif not errors:
            try:
                photo = await images.cleaned(raw)
            except images.BadImage:
                errors["photo"] = domain.NOT_READABLE
    if errors:
        # A browser does not keep the chosen file when the page comes back: ask for it again.
        again = raw is not None and "photo" not in errors
        return await _form(request, order, errors=errors, values={"text": text, "photo_again": again}, status_code=422)
    actor = actors.customer(visitor=visitor_of(request), customer_id=order["customer"])
    try:
        await complaints.send(actor, order["id"], text, photo, clock.now())
    except complaints.NotAllowed as refused:
        return await _form(request, order, errors={"form": refused.message}, values={"text": text}, status_code=422)
    return Redirect(path=f"/b/{token}#complaints", status_code=303)


ROUTES = [complaint_form, complaint_send]
