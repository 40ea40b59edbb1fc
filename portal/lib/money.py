"""Money is integer øre. VAT is derived once from a gross price and a rate."""

from __future__ import annotations

from dataclasses import dataclass

from babel.numbers import format_currency


@dataclass(frozen=True, slots=True)
class VatSplit:
    gross_ore: int
    net_ore: int
    vat_ore: int
    rate_bp: int  # basis points: 2500 = 25 %


def split_vat(gross_ore: int, rate_bp: int) -> VatSplit:
    """Split a gross (VAT-inclusive) amount; VAT rounded half up, once.

    net + vat == gross always holds, so lines add up to the total to the øre.
    """
    if gross_ore < 0 or rate_bp < 0:
        raise ValueError("amounts and rates are never negative here")
    # vat = gross * rate / (1 + rate), in integers: gross*rate_bp / (10000+rate_bp)
    numerator = gross_ore * rate_bp
    denominator = 10_000 + rate_bp
    vat = (2 * numerator + denominator) // (2 * denominator)
    return VatSplit(gross_ore=gross_ore, net_ore=gross_ore - vat, vat_ore=vat, rate_bp=rate_bp)


def format_nok(ore: int, language: str = "nb") -> str:
    """`kr 1 234,50` in Bokmål, `NOK 1,234.50` in English (no-break spaces)."""
    amount = ore / 100
    if language == "en":
        return format_currency(amount, "NOK", format="NOK\u00a0#,##0.00", locale="en_GB", currency_digits=False)
    return format_currency(amount, "NOK", format="¤\u00a0#,##0.00", locale="nb_NO", currency_digits=False)


def format_rate(rate_bp: int, language: str = "nb") -> str:
    """25 % / 12 %; a rate with decimals keeps them (11,11 %)."""
    whole, rest = divmod(rate_bp, 100)
    if rest == 0:
        return f"{whole}\u00a0%"
    sep = "," if language == "nb" else "."
    return f"{whole}{sep}{rest:02d}".rstrip("0") + "\u00a0%"


def parse_kroner(raw: object) -> int | None:
    """'150', '150,50', '1 234.5' → øre; None for anything else."""
    text = str(raw or "").strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not text or text.count(".") > 1:
        return None
    whole, _, frac = text.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (frac and (not (frac.isascii() and frac.isdigit()) or len(frac) > 2)) or len(whole) > 9:
        return None
    return int(whole) * 100 + int((frac or "0").ljust(2, "0"))
