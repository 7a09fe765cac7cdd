"""The Jinja2 environment of the reports and the CSS inlining step that makes them mailable.

HTML templates (``*.html``) are autoescaped: repository and tag names are untrusted input.
Plain-text templates (``*.txt.j2``) are not escaped (HTML entities would be noise there); they pass
untrusted values through the ``oneline`` filter instead, so nothing can forge a line.

Mail clients drop ``<style>`` sheets, so the style sheet written in the templates is inlined into
``style`` attributes with css_inline; only ``@media`` rules (which cannot be inlined, and use
``!important`` to beat the inlined values) stay in a ``<style>`` element for the clients that
honour it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import css_inline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from janitor.report import formatting
from janitor.units import human_bytes


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("janitor.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        size=human_bytes,
        when=formatting.when,
        day=formatting.day,
        pulled=formatting.pulled,
        duration=formatting.duration,
        number=formatting.number,
        plural=formatting.plural,
        oneline=formatting.oneline,
        clip=formatting.clip,
    )
    return env


def _inliner() -> css_inline.CSSInliner:
    # A new inliner per report: cheap, and no question of sharing one between threads.
    return css_inline.CSSInliner(keep_at_rules=True, minify_css=True, load_remote_stylesheets=False)


def render_html(template: str, context: dict[str, Any]) -> str:
    """Render an HTML template and inline its style sheet."""
    html = environment().get_template(template).render(context)
    return _inliner().inline(html)


def render_text(template: str, context: dict[str, Any]) -> str:
    text = environment().get_template(template).render(context)
    return text.rstrip() + "\n"
