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


Block = Union[Heading, Paragraph, Bullets, Table, Image]
WARNING = "Warning: "


class Document:
  def __init__(self, title: str):
    self.title = title
    self.blocks: list[Block] = []

  def heading(self, text: str, level: int = 2) -> None:
    self.blocks.append(Heading(text, level))

  def paragraph(self, text: str) -> None:
    self.blocks.append(Paragraph(text))

  def warning(self, text: str) -> None:
    self.blocks.append(Paragraph(WARNING + text, warning=True))

  def bullets(self, items: Sequence[str]) -> None:
    if items:
      self.blocks.append(Bullets(list(items)))

  def table(self, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    self.blocks.append(Table(list(header), [[str(c) for c in row] for row in rows]))

  def image(self, file: str, alt: str) -> None:
    self.blocks.append(Image(file, alt))

  def to_markdown(self) -> str:
    lines = [f"# {self.title}", ""]
    for block in self.blocks:
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
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(self.title)}</title>",
             "<style>body{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:0.5em 0 1em}"
             "td,th{border:1px solid #bbb;padding:0.2em 0.5em;text-align:left}"
             "th{background:#eee}.warning{color:#8a4b00;font-weight:bold}"
             "img{max-width:100%}</style></head><body>", f"<h1>{e(self.title)}</h1>"]
    for block in self.blocks:
      if isinstance(block, Heading):
        parts.append(f"<h{block.level}>{e(block.text)}</h{block.level}>")
      elif isinstance(block, Paragraph):
        css = ' class="warning"' if block.warning else ""
        parts.append(f"<p{css}>{e(block.text)}</p>")
      elif isinstance(block, Bullets):
        parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in block.items) + "</ul>")
      elif isinstance(block, Table):
        head = "".join(f"<th>{e(c)}</th>" for c in block.header)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
                       for r in block.rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
      elif isinstance(block, Image):
        parts.append(f'<p><img src="{e(block.file)}" alt="{e(block.alt)}"></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_atomic(path: Path, content: Union[str, bytes]) -> None:
  atomic.write_bytes(path, content.encode("utf-8") if isinstance(content, str) else content)
