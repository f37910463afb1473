"""A report as a list of blocks, rendered to Markdown and to HTML with the same content."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import Sequence, Union

from xstilts_jax import atomic


@dataclasses.dataclass
class Heading:
  text: str
  level: int = 2


@dataclasses.dataclass
class Paragraph:
  text: str
  warning: bool = False


@dataclasses.dataclass
class Bullets:
  items: Sequence[str]


@dataclasses.dataclass
class Table:
  header: Sequence[str]
  rows: Sequence[Sequence[str]]


@dataclasses.dataclass
class Image:
  file: str  # relative to the report
  alt: str


@dataclasses.dataclass
class HtmlOnly:
  """A block for the HTML report only (long tables of a large sweep: the appendix)."""

  block: "Block"


Block = Union[Heading, Paragraph, Bullets, Table, Image, HtmlOnly]
WARNING = "Warning: "


class Document:
  """Blocks in order; `appendix=True` (or `html_only` on) keeps a block out of the Markdown."""

  live = True  # a NullDocument (questions.py) keeps nothing and skips exploratory work

  def __init__(self, title: str):
    self.title = title
    self.blocks: list[Block] = []
    self.html_only = False

  def _add(self, block: Block, appendix: bool = False) -> None:
    self.blocks.append(HtmlOnly(block) if appendix or self.html_only else block)

  def heading(self, text: str, level: int = 2, appendix: bool = False) -> None:
    self._add(Heading(text, level), appendix)

  def paragraph(self, text: str, appendix: bool = False) -> None:
    self._add(Paragraph(text), appendix)

  def warning(self, text: str, appendix: bool = False) -> None:
    self._add(Paragraph(WARNING + text, warning=True), appendix)

  def bullets(self, items: Sequence[str], appendix: bool = False) -> None:
    if items:
      self._add(Bullets(list(items)), appendix)

  def table(self, header: Sequence[str], rows: Sequence[Sequence], appendix: bool = False) -> None:
    self._add(Table(list(header), [[str(c) for c in row] for row in rows]), appendix)

  def image(self, file: str, alt: str, appendix: bool = False) -> None:
    self._add(Image(file, alt), appendix)

  def to_markdown(self) -> str:
    lines = [f"# {self.title}", ""]
    for block in self.blocks:
      if isinstance(block, HtmlOnly):
        continue
      if isinstance(block, Heading):
        lines += ["#" * block.level + " " + block.text, ""]
      elif isinstance(block, Paragraph):
        lines += [f"**{block.text}**" if block.warning else block.text, ""]
      elif isinstance(block, Bullets):
        lines += [f"- {item}" for item in block.items] + [""]
      elif isinstance(block, Table):

        def row(cells):
          return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        lines += [row(block.header), "|" + "---|" * len(block.header)]
        lines += [row(r) for r in block.rows] + [""]
      elif isinstance(block, Image):
        lines += [f"![{block.alt}]({block.file})", ""]
    return "\n".join(lines)

  def to_html(self) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(self.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:0.5em 0 1em}"
        "td,th{border:1px solid #bbb;padding:0.2em 0.5em;text-align:left}"
        "th{background:#eee}.warning{color:#8a4b00;font-weight:bold}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>{e(self.title)}</h1>",
    ]
    for block in self.blocks:
      block = block.block if isinstance(block, HtmlOnly) else block
      if isinstance(block, Heading):
        parts.append(f"<h{block.level}>{e(block.text)}</h{block.level}>")
      elif isinstance(block, Paragraph):
        css = ' class="warning"' if block.warning else ""
        parts.append(f"<p{css}>{e(block.text)}</p>")
      elif isinstance(block, Bullets):
        parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in block.items) + "</ul>")
      elif isinstance(block, Table):
        head = "".join(f"<th>{e(c)}</th>" for c in block.header)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in block.rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
      elif isinstance(block, Image):
        parts.append(f'<p><img src="{e(block.file)}" alt="{e(block.alt)}"></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_atomic(path: Path, content: Union[str, bytes]) -> None:
  atomic.write_bytes(path, content.encode("utf-8") if isinstance(content, str) else content)
