"""A document as HTML and as a PDF (WeasyPrint), from templates/documents/.

No database here: `pdf_bytes(document)` renders an `IssuedDocument` and
nothing else, so the worker, the benchmark and the tests call the same code.

The PDF is A4, tagged PDF/UA-1 (`pdf_variant="pdf/ua-1"`), with the title
and the language in its metadata, and embeds DejaVu Sans (loaded with
@font-face from the system's fonts-dejavu-core files). Rendering makes no
network request: the URL fetcher serves only the stylesheet, the font files
and `data:` URLs (the gift card's QR code), and anything else stops the
rendering with an error. The output is deterministic for a given document
(its creation date is the moment of issue, its PDF identifier is derived
from its id), though it is stored once anyway (`service.render_pending`).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from portal.documents.domain import KIND_RULES, MEANS_NAMES, VIA_NAMES, IssuedDocument, org_identity
from portal.lib import clock
from portal.lib.i18n import translations
from portal.lib.money import format_nok, format_rate
from portal.settings import ROOT

TEMPLATES = ROOT / "templates" / "documents"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
ALLOWED_DIRS = (TEMPLATES.resolve(), FONT_DIR.resolve())
CONTENT_TYPE = "application/pdf"
CONTENT_TYPES = {".css": "text/css", ".ttf": "font/ttf", ".otf": "font/otf", ".svg": "image/svg+xml", ".png": "image/png"}


class RenderError(RuntimeError):
    """The document could not be rendered (a missing font or template, a bug)."""


# ---------------------------------------------------------------- formatting


def _short_date(day: date, language: str) -> str:
    return format_date(day, "d. MMM y" if language == "nb" else "d MMM y", locale=clock.LOCALES[language])


def _long_date(day: date, language: str) -> str:
    return format_date(day, "d. MMMM y" if language == "nb" else "d MMMM y", locale=clock.LOCALES[language])


def _moment(moment: datetime, language: str) -> str:
    """3. desember 2026 kl. 14:05 / 3 December 2026 at 14:05, in Europe/Oslo."""
    pattern = "d. MMMM y 'kl.' HH:mm" if language == "nb" else "d MMMM y 'at' HH:mm"
    return format_datetime(clock.to_local(moment), pattern, tzinfo=clock.OSLO, locale=clock.LOCALES[language])


def _minus(text: str) -> str:
    """A credited amount: a real minus sign in front (−kr 100,00)."""
    return "\u2212" + text.lstrip("-")


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        auto_reload=False,
    )


def title_of(document: IssuedDocument) -> str:
    t = translations(document.language)
    return t.gettext(KIND_RULES[document.kind].title) % document.placeholders()


def filename_of(document: IssuedDocument) -> str:
    t = translations(document.language)
    return t.gettext(KIND_RULES[document.kind].filename) % document.placeholders()


def _qr_data_uri(code: str) -> str:
    import segno

    return segno.make(code, error="m").svg_data_uri(scale=4, border=2, dark="#000", light="#fff")


def html_of(document: IssuedDocument) -> str:
    """The document's HTML in its own language."""
    language = document.language
    t = translations(language)

    def nok(ore: int) -> str:
        return format_nok(ore, language)

    def credited(ore: int) -> str:
        return _minus(format_nok(ore, language)) if ore else format_nok(0, language)

    def means_name(means: str) -> str:
        name = MEANS_NAMES.get(means)
        return t.gettext(name) if name else means

    context = {
        "lang": language,
        "_": t.gettext,
        "gettext": t.gettext,
        "ngettext": t.ngettext,
        "doc": document,
        "title": title_of(document),
        "seller": document.seller,
        "vat_registered": document.seller.vat_registered,
        "org_identity": org_identity(document.seller),
        "issued": _moment(document.issued_at, language),
        "nok": nok,
        "credited": credited,
        "rate": lambda bp: format_rate(bp, language),
        "short_date": lambda d: _short_date(d, language),
        "long_date": lambda d: _long_date(d, language),
        "means_name": means_name,
        "moment": lambda m: _moment(m, language),
        "local_day": lambda m: clock.to_local(m).date(),
        "via_names": VIA_NAMES,
        "void_when": _moment(document.void.at, language) if document.void else "",
        "qr": _qr_data_uri(document.giftcard.code) if document.giftcard else "",
        "created": document.issued_at.astimezone(clock.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return environment().get_template(KIND_RULES[document.kind].template).render(**context)


# ---------------------------------------------------------------- PDF


def _fetcher():
    from weasyprint import URLFetcher
    from weasyprint.urls import URLFetcherResponse

    class LocalOnly(URLFetcher):
        """Our stylesheet, the DejaVu files and data: URLs; nothing from the network."""

        def fetch(self, url, headers=None):
            scheme = urlsplit(url).scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme != "file":
                raise RenderError(f"refused to fetch {url!r}: documents make no external requests")
            path = Path(unquote(urlsplit(url).path)).resolve()
            if not any(path.is_relative_to(allowed) for allowed in ALLOWED_DIRS):
                raise RenderError(f"refused to read {path}: not a document template or font")
            if not path.is_file():
                raise RenderError(f"missing {path} (fonts: `make system` installs fonts-dejavu-core)")
            content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
            return URLFetcherResponse(path.as_uri(), path.read_bytes(), headers={"Content-Type": content_type}, status=200)

    return LocalOnly(allowed_protocols={"file", "data"}, fail_on_errors=True)


class _Errors(logging.Handler):
    """WeasyPrint logs what it could not use (a stylesheet, a font) and renders
    on; a document rendered without them is wrong, so they fail the rendering."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:  # another thread's rendering is not ours
            self.messages.append(record.getMessage())


_lock = threading.Lock()
_style: tuple[object, object] | None = None


def _stylesheet() -> tuple[object, object]:
    """documents.css parsed once per process, with the fonts its @font-face rules load."""
    global _style
    if _style is None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        fonts = FontConfiguration()
        css = CSS(filename=str(TEMPLATES / "documents.css"), url_fetcher=_fetcher(), font_config=fonts)
        _style = (css, fonts)
    return _style


def forget_stylesheet() -> None:
    """Parse the stylesheet and load the fonts again at the next rendering (tests)."""
    global _style
    with _lock:
        _style = None


atexit.register(forget_stylesheet)  # let WeasyPrint release its fonts before the interpreter goes


def pdf_bytes(document: IssuedDocument) -> bytes:
    """Render the document (its void copy when it is void) as PDF/UA-1 bytes.
    Raises RenderError when anything it needs is missing."""
    from weasyprint import HTML
    from weasyprint.urls import FatalURLFetchingError

    global _style
    variant = "void" if document.void else "issued"
    identifier = hashlib.sha256(f"portal-document:{document.id}:{variant}".encode()).hexdigest()[:32].encode()
    errors = _Errors()
    logger = logging.getLogger("weasyprint")
    with _lock:
        logger.addHandler(errors)
        try:
            css, fonts = _stylesheet()
            html = HTML(string=html_of(document), base_url=TEMPLATES.as_uri() + "/", url_fetcher=_fetcher())
            pdf = html.write_pdf(stylesheets=[css], font_config=fonts, pdf_variant="pdf/ua-1", pdf_identifier=identifier)
        except FatalURLFetchingError as exc:  # a BaseException in WeasyPrint: make it an ordinary error
            _style = None
            raise RenderError(str(exc.__cause__ or exc)) from exc
        finally:
            logger.removeHandler(errors)
        if errors.messages:
            _style = None  # what failed to load is tried again next time
            raise RenderError("; ".join(errors.messages))
    return pdf
