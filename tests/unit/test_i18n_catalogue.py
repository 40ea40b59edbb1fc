"""The Bokmål catalogue is complete and safe to format.

Messages are re-extracted from the current sources (Python and templates)
with the same command as portal/locale/README.md, so a string someone has
just marked for translation fails here, by name, until nb translates it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "portal" / "locale"
BABEL_CFG = LOCALE_DIR / "babel.cfg"
NB_PO = LOCALE_DIR / "nb" / "LC_MESSAGES" / "messages.po"
EN_PO = LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po"

#: A printf-style conversion as Python's `%` operator reads it: `%(name)s`, `%d`, `%%`, `%.2f` ...
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


def _ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def _label(message: Message) -> str:
    ids = _ids(message)
    return repr(ids[0]) + (f" / plural {ids[1]!r}" if len(ids) > 1 else "")


def _read(path: Path, locale: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A fresh extraction of the current sources (the README's command, into a temp .pot)."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    command = [
        sys.executable, "-m", "babel.messages.frontend", "extract",
        "-F", str(BABEL_CFG),
        "-k", "N_", "-k", "_", "-k", "gettext", "-k", "ngettext:1,2", "-k", "Nn_:1,2",
        "-o", str(pot), "--no-location", "--sort-output", ".",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"pybabel extract failed:\n{done.stdout}\n{done.stderr}"
    with pot.open("rb") as handle:
        catalog = read_po(handle)
    return catalog


@pytest.fixture(scope="module")
def nb() -> Catalog:
    assert NB_PO.exists(), f"{NB_PO.relative_to(ROOT)} is missing: Bokmål is the default language"
    return _read(NB_PO, "nb")


def test_extraction_finds_python_and_template_strings(extracted: Catalog) -> None:
    ids = {message.id for message in extracted if message.id}
    assert "Enter your name." in ids, "nothing extracted from portal/**.py (N_ in portal/sales/forms.py)"
    assert "Choose a time" in ids, "nothing extracted from templates/**.html"
    assert ("%(num)d minute", "%(num)d minutes") in ids, "ngettext plurals were not extracted from templates"


def test_every_msgid_has_a_bokmal_translation(extracted: Catalog, nb: Catalog) -> None:
    missing: list[str] = []
    fuzzy: list[str] = []
    for message in extracted:
        if not message.id:
            continue
        translated = nb.get(message.id)
        if translated is None or not all(s.strip() for s in _strings(translated)):
            missing.append(_label(message))
        elif translated.fuzzy:
            fuzzy.append(_label(message))
        elif len(_strings(translated)) != nb.num_plurals and message.pluralizable:
            missing.append(_label(message) + f" (needs {nb.num_plurals} plural forms)")
    problems = [f"  untranslated: {label}" for label in missing] + [f"  fuzzy: {label}" for label in fuzzy]
    assert not problems, (
        f"{len(problems)} msgid(s) have no finished nb translation in {NB_PO.relative_to(ROOT)}:\n"
        + "\n".join(problems)
        + "\nRe-extract and update (see portal/locale/README.md), then translate them into Bokmål."
    )


def test_nb_plural_forms() -> None:
    assert _read(NB_PO, "nb").plural_forms == "nplurals=2; plural=(n != 1);"


def test_translations_keep_their_placeholders(nb: Catalog) -> None:
    broken: list[str] = []
    for message in nb:
        if not message.id or not message.string:
            continue
        expected = set().union(*(_placeholders(msgid) for msgid in _ids(message)))
        for form, text in enumerate(_strings(message)):
            if text and _placeholders(text) != expected:
                broken.append(
                    f"  {_label(message)} form {form}: msgid has {sorted(expected)}, nb has {sorted(_placeholders(text))}"
                )
            if message.python_format and "%" in PLACEHOLDER.sub("", text):
                broken.append(f"  {_label(message)} form {form}: a bare '%' (write '%%' for a literal percent)")
    assert not broken, "nb translations whose placeholders differ from the msgid:\n" + "\n".join(broken)


def test_nb_translations_format_with_the_msgid_arguments(nb: Catalog) -> None:
    """Each python-format translation formats with a mapping holding exactly the msgid's names."""
    failures: list[str] = []
    for message in nb:
        if not message.id or not message.python_format:
            continue
        names = {
            name for msgid in _ids(message) for name in re.findall(r"%\(([^)]*)\)", msgid)
        }
        arguments = {name: 1 for name in names}
        for text in _strings(message):
            try:
                text % arguments
            except (KeyError, ValueError, TypeError) as error:
                failures.append(f"  {_label(message)}: {text!r} -> {error!r}")
    assert not failures, "nb translations that fail with `%`:\n" + "\n".join(failures)


def test_runtime_catalogues() -> None:
    from portal.lib.i18n import translations

    nb_t = translations("nb")
    assert nb_t.gettext("Choose a time") == "Velg tid"
    assert nb_t.gettext("Confirm booking") == "Bekreft bestillingen"
    assert nb_t.ngettext("%(num)d minute", "%(num)d minutes", 1) % {"num": 1} == "1 minutt"
    assert nb_t.ngettext("%(num)d minute", "%(num)d minutes", 45) % {"num": 45} == "45 minutter"

    en_t = translations("en")
    assert en_t.gettext("Choose a time") == "Choose a time"
    assert en_t.ngettext("%(num)d minute", "%(num)d minutes", 1) == "%(num)d minute"
    assert en_t.ngettext("%(num)d minute", "%(num)d minutes", 45) == "%(num)d minutes"


def test_english_catalogue_translates_nothing_differently() -> None:
    """English shows the msgids: an `en` entry, if filled in at all, must not drift from its msgid."""
    if not EN_PO.exists():
        pytest.skip("no en catalogue; English uses the msgids as they are")
    en = _read(EN_PO, "en")
    drift = [
        f"  {_label(m)}: {m.string!r}"
        for m in en
        if m.id and any(s and s not in _ids(m) for s in _strings(m))
    ]
    assert not drift, "en msgstrs that differ from their msgid (leave them empty):\n" + "\n".join(drift)
