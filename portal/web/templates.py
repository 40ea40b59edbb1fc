"""The Jinja environment every page is rendered with."""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar.contrib.jinja import JinjaTemplateEngine

from portal.settings import ROOT


def template_engine() -> JinjaTemplateEngine:
    environment = Environment(
        loader=FileSystemLoader(str(ROOT / "templates")),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    return JinjaTemplateEngine.from_environment(environment)
