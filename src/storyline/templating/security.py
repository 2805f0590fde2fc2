"""Indicator extraction and enrichment verdicts as Liquid filters and formula functions.

The same operations under both spellings, so a story can write
``{{ .receive_slack_command.body.text | extract_domains: 5 }}`` or
``=EXTRACT_DOMAINS(receive_slack_command.body.text, 5)``; see :mod:`storyline.indicators`
and :mod:`storyline.verdicts` for what they do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liquid import Environment
from liquid.exceptions import FilterError

from storyline import indicators, verdicts

from .values import is_missing


def _extract(kind: str) -> Callable[..., list[str]]:
    def extract(text: Any, limit: Any = None, include_private: Any = False) -> list[str]:
        return indicators.extract(kind, text, limit, include_private)

    return extract


def _verdict(response: Any, source: Any, young_days: Any = None) -> dict[str, Any]:
    return verdicts.verdict(response, source, young_days)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "refang": indicators.refang,
    "extract_domains": _extract("domains"),
    "extract_ips": _extract("ips"),
    "extract_urls": _extract("urls"),
    "extract_hashes": _extract("hashes"),
    "extract_indicators": indicators.extract_indicators,
    "indicator_type": indicators.indicator_type,
    "registered_domain": indicators.registered_domain,
    "verdict": _verdict,
    "overall_level": verdicts.overall_level,
}
"""Filter name -> implementation; the formula function is the same name upper-cased."""


def _present(value: Any) -> Any:
    return None if is_missing(value) else value


def _as_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def liquid_filter(value: Any, *args: Any) -> Any:
        try:
            return func(_present(value), *map(_present, args))
        except ValueError as err:
            raise FilterError(f"{name}: {err}", token=None) from None

    liquid_filter.__doc__ = func.__doc__
    return liquid_filter


def _as_function(func: Callable[..., Any]) -> Callable[..., Any]:
    def formula_function(ctx: Any, *args: Any) -> Any:
        return func(*args)

    return formula_function


def register(env: Environment) -> None:
    """Add the filters to ``env``."""
    for name, func in OPERATIONS.items():
        env.add_filter(name, _as_filter(name, func))


FUNCTIONS: dict[str, Callable[..., Any]] = {name.upper(): _as_function(func) for name, func in OPERATIONS.items()}
"""Formula functions (``EXTRACT_DOMAINS(text, 5)``), merged into the formula registry."""
