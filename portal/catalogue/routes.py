"""Front page with search, and the supplier page."""

from __future__ import annotations

from litestar import Request, get
from litestar.exceptions import NotFoundException

from portal.catalogue import service
from portal.catalogue.domain import CATEGORIES, KINDS, RANKING_NOTE, trade_register
from portal.legal.withdrawal import withdrawal_info
from portal.web.render import page


@get("/", name="home")
async def home(request: Request, q: str = "", category: str = "", town: str = "") -> object:
    q, category, town = q.strip()[:100], category.strip()[:40], town.strip()[:100]
    if category and category not in CATEGORIES:
        category = ""
    suppliers = await service.list_suppliers(q, category, town)
    categories, towns = await service.facets()
    return page(
        request,
        "pages/catalogue/index.html",
        block="results",
        suppliers=suppliers,
        categories=categories,
        towns=towns,
        category_labels=CATEGORIES,
        ranking_note=RANKING_NOTE,
        q=q,
        category=category,
        town=town,
    )


@get("/s/{supplier_slug:str}", name="supplier")
async def supplier_page(request: Request, supplier_slug: str) -> object:
    supplier = await service.get_supplier(supplier_slug)
    if supplier is None:
        raise NotFoundException()
    offerings = await service.supplier_offerings(supplier["id"])
    return page(
        request,
        "pages/catalogue/supplier.html",
        supplier=supplier,
        offerings=offerings,
        category_labels=CATEGORIES,
        kind_labels=KINDS,
        withdrawal_info=withdrawal_info,
        trade_register=trade_register(supplier["company_form"]),
    )


ROUTES = [home, supplier_page]
