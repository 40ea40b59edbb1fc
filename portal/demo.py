"""Demo data: five fictional Norwegian suppliers that exercise the catalogue.

`seed_demo(today)` fills an empty catalogue (no Supplier rows) in one
transaction and returns True; on a catalogue that already has suppliers it
changes nothing and returns False. `today` is the local (Europe/Oslo) date;
dated exceptions (closed days, an extra Saturday) are placed in the weeks
after it so that they show up in the availability a visitor sees.

Names, org numbers, phone numbers and e-mail addresses are made up (org
numbers pass the MOD11 check of python-stdnum, e-mails use eksempel.no); the streets and
postcodes are real. Prices are integer øre including VAT, times are local
wall times, `created_at` is UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from portal.catalogue.tables import (
    DateException,
    HoursRule,
    Offering,
    OfferingResource,
    Resource,
    Supplier,
)
from portal.kinds.giftcard.tables import GiftCardOffer
from portal.payments.tables import Coupon

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)

# --- the demo catalogue, as data -------------------------------------------


@dataclass(frozen=True)
class Shift:
    """Weekly working hours on some weekdays, optionally with one break."""

    weekdays: tuple[int, ...]
    start: time
    end: time
    break_start: time | None = None
    break_end: time | None = None


@dataclass(frozen=True)
class Res:
    key: str
    name: str
    title: str
    shifts: tuple[Shift, ...]


@dataclass(frozen=True)
class Card:
    """What a gift card offering sells (portal.kinds.giftcard.tables.GiftCardOffer)."""

    value_kind: str  # fixed | free | service
    value_ore: int = 0
    min_ore: int = 0
    max_ore: int = 0
    service: str = ""  # the slug of the service a service card is for
    validity_months: int | None = 12


@dataclass(frozen=True)
class Off:
    slug: str
    title: str
    description: str
    price_ore: int
    duration_min: int | None
    resources: tuple[str, ...] = ()  # Res.key; empty = every resource of the supplier
    kind: str = "appointment"
    vat_rate_bp: int = 2500
    buffer_before_min: int = 0
    buffer_after_min: int = 0
    step_min: int = 15
    capacity: int = 1
    online: bool = False
    withdrawal_class: str = "standard"
    cancel_free_hours: int = 24
    cancel_fee_percent: int = 50
    min_notice_min: int = 60
    max_advance_days: int = 60
    deposit_kind: str = "none"
    deposit_value: int = 0
    cancel_fee_ore: int = 0
    giftcard: Card | None = None  # kind "giftcard": the card it sells


#: The VAT category (portal.payments.vat) each demo rate stands for.
VAT_CATEGORY = {2500: "general", 1500: "food", 1200: "reduced", 0: "exempt"}


@dataclass(frozen=True)
class Sup:
    slug: str
    name: str
    legal_name: str
    org_number: str
    company_form: str
    vat_registered: bool
    category: str
    street: str
    postcode: str
    town: str
    phone: str
    email: str
    description: str
    terms: str
    resources: tuple[Res, ...] = ()
    offerings: tuple[Off, ...] = ()
    payment_methods: tuple[str, ...] = ("onsite",)
    coupons: tuple[Cpn, ...] = ()


@dataclass(frozen=True)
class Cpn:
    code: str
    kind: str  # fixed | percent
    value: int
    max_uses: int | None = None
    min_amount_ore: int = 0


@dataclass(frozen=True)
class Exc:
    """A DateException, resolved against `today` by `_exceptions`."""

    supplier: str
    resource: str
    day: date
    closed: bool
    note: str
    start: time | None = None
    end: time | None = None


def hm(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


SALON = Sup(
    payment_methods=("vipps", "onsite"),
    coupons=(Cpn("VELKOMMEN10", "percent", 10), Cpn("GAVE100", "fixed", 100_00, max_uses=1, min_amount_ore=300_00)),
    slug="saks-og-stil-grunerlokka",
    name="Saks & Stil",
    legal_name="Saks & Stil Grünerløkka AS",
    org_number="924173084",
    company_form="AS",
    vat_registered=True,
    category="hair",
    street="Olaf Ryes plass 7",
    postcode="0552",
    town="Oslo",
    phone="+4722350417",
    email="post@saksogstil.eksempel.no",
    description=(
        "Frisørsalong midt på Grünerløkka med tre erfarne frisører. Vi klipper "
        "dame, herre og barn, og er spesialister på farge og lyse striper. "
        "Kveldstimer på hverdager og åpent på lørdager."
    ),
    terms=(
        "Timen kan avbestilles gratis inntil 24 timer før (48 timer for farge og "
        "klipp). Ved senere avbestilling eller hvis du ikke møter, belaster vi 50 % "
        "av prisen. Kommer du mer enn 10 minutter for sent, kan vi måtte korte ned "
        "behandlingen. Betaling skjer i salongen med kort eller Vipps."
    ),
    resources=(
        # Tuesday to Saturday, daytime.
        Res(
            key="ingrid",
            name="Ingrid Haugen",
            title="Frisørmester",
            shifts=(
                Shift((TUE, WED, THU, FRI), hm("09:00"), hm("17:00"), hm("12:00"), hm("12:30")),
                Shift((SAT,), hm("10:00"), hm("16:00"), hm("12:30"), hm("13:00")),
            ),
        ),
        # Monday to Friday, late.
        Res(
            key="jonas",
            name="Jonas Berg",
            title="Frisør",
            shifts=(
                Shift((MON, TUE, WED, THU, FRI), hm("12:00"), hm("20:00"), hm("16:00"), hm("16:30")),
            ),
        ),
        # Four days, early; colour specialist.
        Res(
            key="amira",
            name="Amira Khalid",
            title="Frisør og kolorist",
            shifts=(
                Shift((MON, WED, THU), hm("08:30"), hm("16:30"), hm("11:30"), hm("12:00")),
                Shift((FRI,), hm("08:30"), hm("14:00"), hm("11:00"), hm("11:30")),
            ),
        ),
    ),
    offerings=(
        Off(
            slug="herreklipp",
            title="Herreklipp",
            description="Vask, klipp og styling. Inkluderer konturtrim av nakke og kinnskjegg.",
            price_ore=549_00,
            duration_min=30,
        ),
        Off(
            slug="dameklipp",
            title="Dameklipp",
            description="Konsultasjon, vask, klipp og føn. Passer for alle hårlengder.",
            price_ore=895_00,
            duration_min=60,
        ),
        Off(
            slug="barneklipp",
            title="Barneklipp (under 12 år)",
            description="Enkel klipp for barn under 12 år. Ta gjerne med en favorittbok.",
            price_ore=399_00,
            duration_min=30,
        ),
        Off(
            slug="farge-og-klipp",
            title="Farge og klipp",
            description=(
                "Helfarge eller striper med klipp og føn. Vi tar en kort prat om "
                "ønsket resultat før vi starter. Gjøres av våre fargespesialister."
            ),
            price_ore=1_990_00,
            duration_min=120,
            resources=("ingrid", "amira"),
            cancel_free_hours=48,
            max_advance_days=90,
        ),
        Off(
            slug="vask-og-fon",
            title="Vask og føn",
            description="Hårvask med hodebunnsmassasje og føning, glatt eller med volum.",
            price_ore=495_00,
            duration_min=45,
        ),
        Off(
            slug="gavekort",
            title="Gavekort – du velger beløpet",
            description="Et gavekort fra 200 til 5 000 kr som kan brukes på alt vi tilbyr. Sendes på e-post som PDF.",
            price_ore=200_00,
            duration_min=None,
            kind="giftcard",
            vat_rate_bp=0,  # a voucher: VAT falls due when it is redeemed
            min_notice_min=0,
            max_advance_days=90,
            giftcard=Card("free", min_ore=200_00, max_ore=5_000_00, validity_months=12),
        ),
        Off(
            slug="gavekort-herreklipp",
            title="Gavekort: en herreklipp",
            description="Gjelder for én herreklipp, også om prisen går opp. Sendes på e-post som PDF.",
            price_ore=549_00,
            duration_min=None,
            kind="giftcard",
            vat_rate_bp=0,
            min_notice_min=0,
            max_advance_days=90,
            giftcard=Card("service", service="herreklipp", validity_months=12),
        ),
    ),
)

MASSAGE = Sup(
    payment_methods=("vipps", "onsite"),
    slug="fjellro-massasje-bergen",
    name="Fjellro Massasje",
    legal_name="Fjellro Massasje AS",
    org_number="918630252",
    company_form="AS",
    vat_registered=True,
    category="massage",
    street="Vaskerelven 16",
    postcode="5014",
    town="Bergen",
    phone="+4755302184",
    email="booking@fjellro.eksempel.no",
    description=(
        "Massasjeklinikk i Bergen sentrum, et steinkast fra Torgallmenningen. "
        "Klassisk avslappende massasje og idrettsmassasje for deg som trener mye. "
        "Stengt mandager."
    ),
    terms=(
        "Avbestilling er gratis inntil 24 timer før timen. Ved senere avbestilling "
        "eller uteblivelse belastes 50 % av prisen. Gi beskjed om skader, graviditet "
        "eller sykdom før behandlingen. Betaling skjer på klinikken."
    ),
    resources=(
        Res(
            key="siri",
            name="Siri Vik",
            title="Massasjeterapeut",
            shifts=(
                Shift((TUE, WED, THU, FRI), hm("10:00"), hm("18:00"), hm("13:00"), hm("13:30")),
                Shift((SAT,), hm("10:00"), hm("15:00"), hm("12:30"), hm("13:00")),
            ),
        ),
        Res(
            key="thomas",
            name="Thomas Nilsen",
            title="Idrettsmassør",
            shifts=(
                Shift((TUE, WED, FRI), hm("08:00"), hm("16:00"), hm("12:00"), hm("12:30")),
                Shift((THU,), hm("12:00"), hm("20:00"), hm("16:00"), hm("16:30")),
            ),
        ),
    ),
    offerings=(
        Off(
            slug="massasje-30",
            title="Klassisk massasje 30 min",
            description="Fokusert massasje av rygg, nakke og skuldre.",
            price_ore=590_00,
            duration_min=30,
            buffer_after_min=15,
        ),
        Off(
            slug="massasje-60",
            title="Klassisk massasje 60 min",
            description="Avslappende helkroppsmassasje med varm olje.",
            price_ore=990_00,
            duration_min=60,
            buffer_after_min=15,
        ),
        Off(
            slug="massasje-90",
            deposit_kind="percent",
            deposit_value=30,
            title="Klassisk massasje 90 min",
            description="Lang helkroppsmassasje med ekstra tid til nakke, hode og føtter.",
            price_ore=1_390_00,
            duration_min=90,
            buffer_after_min=15,
            cancel_free_hours=48,
        ),
        Off(
            slug="idrettsmassasje-60",
            title="Idrettsmassasje 60 min",
            description=(
                "Dyp massasje og tøyning for stive og overbelastede muskler. "
                "Starter med en kort kartlegging av treningen din."
            ),
            price_ore=1_090_00,
            duration_min=60,
            resources=("thomas",),
            buffer_before_min=5,
            buffer_after_min=15,
        ),
    ),
)

CONSULTANT = Sup(
    payment_methods=("vipps", "onsite"),
    slug="lunde-radgivning",
    name="Lunde Rådgivning",
    legal_name="Kari Lunde Rådgivning",
    org_number="993054712",
    company_form="ENK",
    vat_registered=True,
    category="consulting",
    street="Olav Tryggvasons gate 24",
    postcode="7011",
    town="Trondheim",
    phone="+4791827364",
    email="kari@lunderadgivning.eksempel.no",
    description=(
        "Rådgivning for små bedrifter og enkeltpersonforetak: oppstart, "
        "budsjett, prising og merverdiavgift. Alle samtaler foregår på video, "
        "lenken får du på e-post når timen er bekreftet."
    ),
    terms=(
        "Timen kan avbestilles gratis inntil 24 timer før avtalt tid. Ved senere "
        "avbestilling belastes 50 % av prisen. Rådgivningen er generell og "
        "erstatter ikke revisor eller advokat. Faktura sendes etter samtalen."
    ),
    resources=(
        Res(
            key="kari",
            name="Kari Lunde",
            title="Bedriftsrådgiver",
            shifts=(
                Shift((MON, TUE, WED, THU, FRI), hm("09:00"), hm("16:00"), hm("11:30"), hm("12:00")),
            ),
        ),
    ),
    offerings=(
        Off(
            slug="videokonsultasjon",
            title="Videokonsultasjon",
            description=(
                "45 minutter på video om det du trenger hjelp med. Send gjerne "
                "spørsmål og tall på forhånd, så får vi mest ut av tiden."
            ),
            price_ore=1_250_00,
            duration_min=45,
            online=True,
            min_notice_min=120,
            max_advance_days=90,
        ),
    ),
)

YOGA = Sup(
    slug="pust-yoga-stavanger",
    name="Pust Yogastudio",
    legal_name="Pust Yoga Stavanger AS",
    org_number="927581469",
    company_form="AS",
    vat_registered=True,
    category="fitness",
    street="Skagen 13",
    postcode="4006",
    town="Stavanger",
    phone="+4751893027",
    email="hei@pustyoga.eksempel.no",
    description=(
        "Lite yogastudio i Stavanger sentrum med plass til tolv. Rolige "
        "flow-timer for alle nivåer, og privattimer for deg som vil ha "
        "oppfølging alene. Matter og blokker får du låne."
    ),
    terms=(
        "Plassen din kan avbestilles gratis inntil 12 timer før timen starter "
        "(24 timer for privattimer); senere avbestilling gir ingen refusjon. "
        "Fordi timene gjelder en bestemt dato, er det ikke angrerett. Kom "
        "senest fem minutter før start. Betaling skjer i studioet."
    ),
    resources=(
        # The room is open exactly at the class windows, so each day has one slot.
        Res(
            key="salen",
            name="Salen",
            title="Yogasal med plass til 12",
            shifts=(
                Shift((MON, WED), hm("18:00"), hm("19:15")),
                Shift((SAT,), hm("10:00"), hm("11:15")),
            ),
        ),
        Res(
            key="marte",
            name="Marte Solheim",
            title="Yogalærer",
            shifts=(Shift((TUE, THU), hm("12:00"), hm("16:00")),),
        ),
    ),
    offerings=(
        Off(
            slug="yoga-flow",
            title="Yoga flow",
            description=(
                "75 minutter rolig, flytende yoga med pust i fokus, avsluttet med "
                "avspenning. Passer for både nybegynnere og viderekomne."
            ),
            price_ore=260_00,
            duration_min=75,
            resources=("salen",),
            capacity=12,
            withdrawal_class="exempt_dated_leisure",
            cancel_free_hours=12,
            cancel_fee_percent=100,
            min_notice_min=30,
        ),
        Off(
            slug="privattime-yoga",
            title="Privattime yoga",
            description="En time alene med yogalærer, tilpasset kroppen og målene dine.",
            price_ore=890_00,
            duration_min=60,
            resources=("marte",),
            withdrawal_class="exempt_dated_leisure",
            cancel_free_hours=24,
            cancel_fee_percent=100,
        ),
    ),
)

APARTMENTS = Sup(
    payment_methods=("vipps",),  # its gift cards are sold online; stays cannot be booked yet
    slug="nordlys-leiligheter-tromso",
    name="Nordlys Leiligheter",
    legal_name="Nordlys Leilighetshotell AS",
    org_number="931648209",
    company_form="AS",
    vat_registered=True,
    category="accommodation",
    street="Storgata 52",
    postcode="9008",
    town="Tromsø",
    phone="+4777604512",
    email="resepsjon@nordlys.eksempel.no",
    description=(
        "Fullt utstyrte leiligheter i Tromsø sentrum, med kjøkken og vaskemaskin. "
        "Kort vei til Hurtigruten, flybussen og nordlyset."
    ),
    terms=(
        "Innsjekk fra kl. 15 og utsjekk innen kl. 11. Bestillingen kan avbestilles "
        "gratis inntil 48 timer før ankomst; senere avbestilling belastes med 50 % "
        "av prisen for oppholdet. Gavekort gjelder i 3 år fra kjøpsdato."
    ),
    offerings=(
        Off(
            slug="leilighet-2-personer",
            title="Leilighet for 2, per natt",
            description="Leilighet på 35 m² med dobbeltseng, kjøkkenkrok og utsikt mot Tromsøbrua.",
            price_ore=1_450_00,
            duration_min=None,
            kind="stay",
            vat_rate_bp=1200,  # accommodation: reduced rate
            withdrawal_class="exempt_dated_leisure",
            cancel_free_hours=48,
            max_advance_days=90,
        ),
        Off(
            slug="gavekort-1000",
            title="Gavekort 1 000 kr",
            description="Gavekort som kan brukes på opphold hos oss. Sendes på e-post.",
            price_ore=1_000_00,
            duration_min=None,
            kind="giftcard",
            vat_rate_bp=0,  # a voucher: VAT falls due when it is redeemed
            cancel_free_hours=24,
            cancel_fee_percent=0,
            min_notice_min=0,
            max_advance_days=90,
            giftcard=Card("fixed", value_ore=1_000_00, validity_months=None),  # the terms say 3 years
        ),
    ),
)

DEMO_SUPPLIERS: tuple[Sup, ...] = (SALON, MASSAGE, CONSULTANT, YOGA, APARTMENTS)


# --- dated exceptions, relative to today -------------------------------------


def _first_on_or_after(start: date, weekdays: set[int]) -> date:
    day = start
    while day.weekday() not in weekdays:
        day += timedelta(days=1)
    return day


def _exceptions(today: date) -> list[Exc]:
    # The clinic is closed for a course about five days out (moved to the next
    # day it would otherwise be open, so the closure is visible).
    clinic_closed = _first_on_or_after(today + timedelta(days=5), {TUE, WED, THU, FRI})
    # The consultant opens one extra Saturday, in the second week.
    extra_saturday = _first_on_or_after(today + timedelta(days=8), {SAT})
    # One stylist is away for a day, about ten days out.
    stylist_away = _first_on_or_after(today + timedelta(days=10), {TUE, WED, THU, FRI})
    # One class is cancelled, about two weeks out.
    class_cancelled = _first_on_or_after(today + timedelta(days=14), {MON, WED})
    return [
        Exc(MASSAGE.slug, "siri", clinic_closed, True, "Kursdag – klinikken er stengt"),
        Exc(MASSAGE.slug, "thomas", clinic_closed, True, "Kursdag – klinikken er stengt"),
        Exc(
            CONSULTANT.slug,
            "kari",
            extra_saturday,
            False,
            "Ekstra lørdagsåpent",
            hm("10:00"),
            hm("14:00"),
        ),
        Exc(SALON.slug, "ingrid", stylist_away, True, "Ingrid er på kurs"),
        Exc(YOGA.slug, "salen", class_cancelled, True, "Salen er utleid – ingen time"),
    ]


# --- insertion ------------------------------------------------------------


async def seed_demo(today: date) -> bool:
    """Insert the demo catalogue if there are no suppliers yet.

    Returns True when it inserted, False (and changes nothing) otherwise.
    """
    async with Supplier._meta.db.transaction():
        if await Supplier.count() > 0:
            return False
        created_at = datetime.now(timezone.utc)
        resource_ids: dict[tuple[str, str], int] = {}
        for sup in DEMO_SUPPLIERS:
            supplier = Supplier(
                slug=sup.slug,
                name=sup.name,
                legal_name=sup.legal_name,
                org_number=sup.org_number,
                company_form=sup.company_form,
                vat_registered=sup.vat_registered,
                category=sup.category,
                street=sup.street,
                postcode=sup.postcode,
                town=sup.town,
                phone=sup.phone,
                email=sup.email,
                description=sup.description,
                terms=sup.terms,
                payment_methods=list(sup.payment_methods),
                active=True,
                created_at=created_at,
            )
            await supplier.save()

            own: dict[str, int] = {}
            hours: list[HoursRule] = []
            for res in sup.resources:
                resource = Resource(supplier=supplier.id, name=res.name, title=res.title)
                await resource.save()
                own[res.key] = resource.id
                resource_ids[(sup.slug, res.key)] = resource.id
                for shift in res.shifts:
                    for weekday in shift.weekdays:
                        hours.append(
                            HoursRule(
                                resource=resource.id,
                                weekday=weekday,
                                start=shift.start,
                                end=shift.end,
                                is_break=False,
                            )
                        )
                        if shift.break_start is not None:
                            hours.append(
                                HoursRule(
                                    resource=resource.id,
                                    weekday=weekday,
                                    start=shift.break_start,
                                    end=shift.break_end,
                                    is_break=True,
                                )
                            )
            if hours:
                await HoursRule.insert(*hours)

            links: list[OfferingResource] = []
            offering_ids: dict[str, int] = {}
            for position, off in enumerate(sup.offerings, start=1):
                offering = Offering(
                    supplier=supplier.id,
                    slug=off.slug,
                    kind=off.kind,
                    title=off.title,
                    description=off.description,
                    price_ore=off.price_ore,
                    vat_rate_bp=off.vat_rate_bp,
                    vat_category=VAT_CATEGORY[off.vat_rate_bp],
                    deposit_kind=off.deposit_kind,
                    deposit_value=off.deposit_value,
                    cancel_fee_ore=off.cancel_fee_ore,
                    duration_min=off.duration_min,
                    buffer_before_min=off.buffer_before_min,
                    buffer_after_min=off.buffer_after_min,
                    step_min=off.step_min,
                    capacity=off.capacity,
                    online=off.online,
                    withdrawal_class=off.withdrawal_class,
                    cancel_free_hours=off.cancel_free_hours,
                    cancel_fee_percent=off.cancel_fee_percent,
                    min_notice_min=off.min_notice_min,
                    max_advance_days=off.max_advance_days,
                    open_on_holidays=False,
                    position=position * 10,
                    active=True,
                )
                await offering.save()
                offering_ids[off.slug] = offering.id
                if off.kind != "appointment":
                    continue  # stays and gift cards are not tied to resources
                keys = off.resources or tuple(own)
                links.extend(OfferingResource(offering=offering.id, resource=own[k]) for k in keys)
            if links:
                await OfferingResource.insert(*links)
            for off in sup.offerings:
                if off.giftcard is not None:
                    card = off.giftcard
                    await GiftCardOffer.insert(
                        GiftCardOffer(
                            offering=offering_ids[off.slug],
                            value_kind=card.value_kind,
                            value_ore=card.value_ore,
                            min_ore=card.min_ore,
                            max_ore=card.max_ore,
                            service_offering=offering_ids[card.service] if card.service else None,
                            validity_months=card.validity_months,
                        )
                    )
            for cpn in sup.coupons:
                await Coupon.insert(
                    Coupon(
                        supplier=supplier.id,
                        code=cpn.code,
                        supplier_code=f"{supplier.id}:{cpn.code}",
                        kind=cpn.kind,
                        value=cpn.value,
                        valid_from=None,
                        valid_until=datetime.combine(today + timedelta(days=365), time(0, 0), tzinfo=timezone.utc),
                        max_uses=cpn.max_uses,
                        uses=0,
                        min_amount_ore=cpn.min_amount_ore,
                        offering_ids=[],
                        active=True,
                        created_at=created_at,
                    )
                )

        exceptions = [
            DateException(
                resource=resource_ids[(exc.supplier, exc.resource)],
                day=exc.day,
                closed=exc.closed,
                start=exc.start,
                end=exc.end,
                note=exc.note,
            )
            for exc in _exceptions(today)
        ]
        await DateException.insert(*exceptions)
    return True


# --- the demo's people ------------------------------------------------------

#: Every demo login has this password; the owners also have a TOTP second factor.
DEMO_PASSWORD = "demo-passord-2026"
ROLE_NAMES = {"owner": "Eier", "front_desk": "Resepsjon", "staff": "Ansatt"}


from portal.identity.staff.domain import DEMO_EMAIL_DOMAIN  # noqa: E402


def _totp_secret(slug: str) -> str:
    """A fixed TOTP seed per demo owner (base32), so the demo is the same every time."""
    import base64
    import hashlib

    return base64.b32encode(hashlib.sha256(f"demo-totp:{slug}".encode()).digest()[:20]).decode()


def demo_people() -> list[dict]:
    """Owner, front desk and one staff member (the first resource's person) per demo supplier."""
    people = []
    for sup in DEMO_SUPPLIERS:
        short = sup.slug.split("-")[0]
        for role in ("owner", "front_desk", "staff"):
            local = {"owner": "eier", "front_desk": "resepsjon", "staff": "ansatt"}[role]
            people.append(
                {
                    "supplier": sup.slug,
                    "supplier_name": sup.name,
                    "role": role,
                    "email": f"{local}.{short}@{DEMO_EMAIL_DOMAIN}",
                    "name": f"{ROLE_NAMES[role]} hos {sup.name}" if role != "staff" else (sup.resources[0].name if sup.resources else "Ansatt"),
                    "resource_key": sup.resources[0].key if role == "staff" and sup.resources else None,
                    "totp_secret": _totp_secret(sup.slug) if role == "owner" else "",
                }
            )
    return people


async def seed_demo_staff(now: datetime) -> int:
    """The demo's logins (see demo_people), each made once, and a note in the
    dev mailbox that lists them. Returns how many accounts it made."""
    from portal.audit import domain as actors
    from portal.identity.staff import service as staff
    from portal.identity.staff.domain import Role
    from portal.identity.staff.tables import StaffAccount
    from portal.notify.tables import DevMessage

    actor = actors.system("demo-seed")
    made = 0
    lines = []
    for person in demo_people():
        supplier = await Supplier.select(Supplier.id).where(Supplier.slug == person["supplier"]).first()
        if supplier is None:
            continue
        resource_id = None
        if person["resource_key"]:
            sup = next(s for s in DEMO_SUPPLIERS if s.slug == person["supplier"])
            res = next(r for r in sup.resources if r.key == person["resource_key"])
            row = await Resource.select(Resource.id).where((Resource.supplier == supplier["id"]) & (Resource.name == res.name)).first()
            resource_id = row["id"] if row else None
        secret_note = f", TOTP-nøkkel {person['totp_secret']}" if person["totp_secret"] else ""
        lines.append(f"{person['supplier_name']} – {ROLE_NAMES[person['role']]}: {person['email']} / {DEMO_PASSWORD}{secret_note}")
        if await StaffAccount.exists().where(StaffAccount.email == person["email"]):
            continue
        account_id = await staff.create_account(actor, email=person["email"], name=person["name"], password=DEMO_PASSWORD, now=now, totp_secret=person["totp_secret"])
        await staff.add_membership(actor, account_id=account_id, supplier_id=supplier["id"], role=Role(person["role"]), resource_id=resource_id, now=now)
        made += 1
    operator_email = f"drift@{DEMO_EMAIL_DOMAIN}"
    lines.append(f"portal – Operatør (godkjenner og stenger leverandører): {operator_email} / {DEMO_PASSWORD}")
    if not await StaffAccount.exists().where(StaffAccount.email == operator_email):
        await staff.create_account(actor, email=operator_email, name="Drift hos portal", password=DEMO_PASSWORD, now=now, operator=True)
        made += 1
    if made:
        body = "\n".join(
            [
                "Logg inn på kontoret: /kontor/logg-inn",
                "Eierne har en ekstra faktor (TOTP); i demoen viser kodesiden koden som gjelder nå.",
                "",
                *lines,
            ]
        )
        await DevMessage.insert(DevMessage(channel="email", recipient="deg", sender="portal demo", subject="Demo: innlogginger til kontoret", body=body, created_at=now))
    return made
