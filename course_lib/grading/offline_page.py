"""Feedback pages that work offline, on a phone and on paper.

nbconvert leaves the maths of markdown cells as ``$...$`` for MathJax, which it loads
from a CDN: without a network the student sees raw LaTeX. Here the maths is rendered
before the page is written, to MathML (``latex2mathml``, pure Python), which every
current browser draws without any script; the MathJax loader is replaced by nothing.

* :func:`prerender_math` swaps each ``$...$`` / ``$$...$$`` of the markdown cells (not
  code spans or fenced code) for a placeholder word that Markdown leaves alone;
* :func:`finish_page` puts the MathML in place of the placeholders and adds a viewport
  and the course's CSS for narrow screens and printing to the page's head.
"""

from __future__ import annotations

import html
import re

#: replaces nbconvert's ``mathjax.html.j2`` (a loader of MathJax from a CDN): maths is pre-rendered
NO_MATHJAX_TEMPLATE = ('{%- macro mathjax(url="") -%}'
                       "<!-- maths is pre-rendered to MathML: no script, no network -->{%- endmacro %}")

_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]+`)", re.S)
# $$display$$, or $inline$ that starts and ends next to non-space (so "$5 and $6" is not maths)
_MATH = re.compile(r"(?<!\\)\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\w$])", re.S)
_PLACEHOLDER = "dlcoursemath{}x"
_XMLNS = re.compile(r'\s+xmlns="[^"]*"')

#: the page's own CSS: a phone-width layout and a print layout
PAGE_STYLE = """
<meta name="viewport" content="width=device-width, initial-scale=1" />
<style>
/* dlcourse: readable on a narrow screen, printable */
img, svg, video { max-width: 100%; height: auto; }
math[display="block"] { display: block; overflow-x: auto; max-width: 100%; margin: 0.6em 0; }
div.output_area pre, div.input_area pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.dlcourse-summary { overflow-x: auto; }
.dlcourse-summary td { overflow-wrap: anywhere; }
code.tex { white-space: normal; }
@media (max-width: 720px) {
  body { font-size: 16px; padding-top: 0; }
  .container, div#notebook-container { width: auto; padding-left: 6px; padding-right: 6px; }
  div.prompt { display: none; }
  div.input, div.output_area, div.inner_cell, div.text_cell { display: block; }
  div.nbgrader_cell .panel-heading { height: auto; }
  .dlcourse-summary thead { display: none; }
  .dlcourse-summary tr, .dlcourse-summary td:last-child { display: block; text-align: left; }
  .dlcourse-summary td { display: inline-block; margin-right: 0.8em; border: none !important; }
  .dlcourse-summary tr { border-top: 1px solid #d0d7de; padding: 0.3em 0; }
}
@media print {
  body { font-size: 11pt; padding: 0; }
  a[href]::after { content: none !important; }
  .panel { border: none; box-shadow: none; }
  div.prompt, .pull-right a[href="#top"] { display: none; }
  div.output_area pre, div.input_area pre { white-space: pre-wrap; page-break-inside: auto; }
  .dlcourse-summary tr { page-break-inside: avoid; }
}
</style>
"""


def tex_to_html(tex: str, display: bool) -> str:
    """``tex`` as a MathML element; as ``<code class="tex">`` where ``latex2mathml`` cannot read it."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(tex.strip(), display="block" if display else "inline")
    except Exception:       # an unsupported command: show the TeX as code, never as $...$
        return f'<code class="tex">{html.escape(tex.strip())}</code>'
    return _XMLNS.sub("", mathml, count=1)


def prerender_math(notebook) -> dict[str, str]:
    """Replace the maths of ``notebook``'s markdown cells by placeholders, in place; return ``{placeholder: HTML}``."""
    rendered: dict[str, str] = {}

    def swap(match: re.Match) -> str:
        display = match.group(1) is not None
        key = _PLACEHOLDER.format(len(rendered))
        rendered[key] = tex_to_html(match.group(1) if display else match.group(2), display)
        return key

    for cell in notebook.cells:
        if cell.get("cell_type") != "markdown" or "$" not in cell.get("source", ""):
            continue
        parts = _CODE.split(cell.source)
        cell.source = "".join(part if index % 2 else _MATH.sub(swap, part) for index, part in enumerate(parts))
    return rendered


def finish_page(page: str, rendered: dict[str, str] | None = None) -> str:
    """``page`` with its maths in place and the course's viewport and CSS in its head."""
    for key, mathml in (rendered or {}).items():
        page = page.replace(key, mathml)
    head = page.find("</head>")
    return page[:head] + PAGE_STYLE + page[head:] if head >= 0 else PAGE_STYLE + page
