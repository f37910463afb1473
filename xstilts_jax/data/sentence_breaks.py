"""The sentence breaker XTREME-R uses to build LAReQA's training set from English SQuAD v1.1.

XTREME-R (processors/squad_retrieval.py) takes each SQuAD question's answer sentence from a
rule-based breaker tuned on SQuAD paragraphs (processors/sb_sed.py, "sed-style"): a break goes
after sentence-final punctuation followed by a capitalised word, then rules join again what
such a break wrongly cuts (titles, abbreviations, initials, numbered parts, SQuAD's own odd
names) and split what it misses (a few common sentence openers). The rule set below follows
that breaker's documented behaviour so that the training pairs are the ones XTREME-R trains on;
the XQuAD-R files' own `sentence_breaks` (made by the LAReQA authors for English) are the
independent check in the tests.

Every rule replaces one character by another (a space by a newline, or back), so positions in
the marked text are positions in the paragraph.
"""

from __future__ import annotations

import re

_CLOSE_QUOTE, _OPEN_QUOTE = "\u201d", "\u201c"

# (what the rule does, pattern, replacement), applied in this order to the whole paragraph.
_RULES: tuple[tuple[str, str, str], ...] = (
    # Breaks: [.?!], closing quotes/brackets, one whitespace, then an opening mark and a capital or digit.
    (
        "break after final punctuation",
        rf"([.?!][)'\" {_CLOSE_QUOTE}]*)\s(\s*[\['\"({_OPEN_QUOTE}]?[A-Z0-9])",
        "\\1\n\\2",
    ),
    ("break after citation marks", r"([.?!]['\"]?)((\[[a-zA-Z0-9 ?]+\])+)\s(\s*['\"(]?[A-Z0-9])", "\\1\\2\n\\4"),
    ("break after an elision [...]", r"(\[\.\.\.\]\s*)\s(\[?[A-Z])", "\\1\n\\2"),
    # Joins: abbreviations that end in a period.
    ("join titles", r"\b(Mrs?|Ms|Dr|Prof|Fr|Rev|Msgr|Sta?)\.\n", "\\1. "),
    ("join ranks and offices", r"\b(Lt|Gen|Col|Maj|Adm|Capt|Sgt|Rep|Gov|Sen|Pres)\.\n", "\\1. "),
    ("join literary abbreviations", r"\b(e\.g|i\.?e|vs?|pp?|cf|a\.k\.a|approx|app|es[pt]|tr)\.\n", "\\1. "),
    ("join month abbreviations", r"\b(Jan|Aug|Oct|Nov|Dec)\.\n", "\\1. "),
    ("join place abbreviations", r"\b(Mt|Ft)\.\n", "\\1. "),
    ("join a.m./p.m. before a time zone", r"\b([ap]\.m)\.\n(Eastern|EST)\b", "\\1. \\2"),
    # Joins: initials before a surname (three, two, one).
    ("join three initials", r"\b([A-Z]\.)[ \n]([A-Z]\.)[ \n]([A-Z]\.)[ \n](\"?[A-Z][a-z])", "\\1 \\2 \\3 \\4"),
    ("join two initials", r"\b([A-Z]\.)[ \n]([A-Z]\.)[ \n](\"?[A-Z][a-z])", "\\1 \\2 \\3"),
    ("join joined initials", r"\b([A-Z]\.[A-Z]\.)\n(\"?[A-Z][a-z])", "\\1 \\2"),
    ("join one initial", r"\b([A-Z]\.)\n(\"?[A-Z][a-z])", "\\1 \\2"),
    # Breaks the first rule misses: common sentence openers after a period.
    ("break before The/This/That/These/It", r"([.!?]['\")]*) (The|This|That|These|It) ", "\\1\n\\2 "),
    ("break before Meanwhile/However", r"(\.) (Meanwhile|However)", "\\1\n\\2"),
    (
        "break before prepositional openers",
        r"(\.) (In|On|By|During|After|Under|Although|Yet|As |Several|According to) ",
        "\\1\n\\2 ",
    ),
    # Joins: numbered parts, life dates, citations, bills.
    ("join numbered parts", r"\b([Aa]rt|[Nn]o|Opp?|ch|Sec|cl|Rec|Ecl|Cor|Lk|Jn|Vol)\.\n([0-9IVX]+)\b", "\\1. \\2"),
    ("join born/died/circa", r"\b([bdrc]|ca|fl)\.\n([A-Z0-9])", "\\1. \\2"),
    ("join et al. (year)", r"\b(et al)\.\n(\(?[0-9]{4}\b)", "\\1. \\2"),
    ("join H.R. numbers", r"\b(H\.R\.)\n([0-9])", "\\1 \\2"),
    # SQuAD's own names and oddities.
    ("join I Am...", r"(I Am\.\.\.)\n(Sasha Fierce|World Tour)", "\\1 \\2"),
    ("join Warner Bros.", r"(Warner Bros\.)\n(Records|Entertainment)", "\\1 \\2"),
    ("join U.S. before a number", r"(U\.S\.)\n(\(?\d\d+)", "\\1 \\2"),
    ("join Rs. amounts", r"\b(Rs\.)\n(\d)", "\\1 \\2"),
    ("break after Jay Z.", r"\b(Jay Z\.) ([A-Z])", "\\1\n\\2"),
    ("break after Washington, D.C.", r"\b(Washington, D\.C\.) ([A-Z])", "\\1\n\\2"),
    ("break after 'for 4.)'", r"\b(for 4\.\)) ([A-Z])", "\\1\n\\2"),
    ("break after Wii U.", r"\b(Wii U\.) ([A-Z])", "\\1\n\\2"),
    ("break before iPod/iTunes", r"\. (iPod|iTunes)", ".\n\\1"),
    ("break before a marked elision", r" (\[\.\.\.\]\n)", "\n\\1"),
    ("join degrees in .Sc.", r"(\.Sc\.)\n", "\\1 "),
    ("break before a bullet", " (\u2022 [A-Z])", "\n\\1"),
)
_COMPILED = tuple((re.compile(pattern), replacement) for _, pattern, replacement in _RULES)


def mark_breaks(text: str) -> str:
  """The paragraph with a newline at each sentence break (same length as `text`)."""
  marked = text.replace("\n", " ")
  for pattern, replacement in _COMPILED:
    marked = pattern.sub(replacement, marked)
  return marked


def sentence_breaks(text: str) -> list[tuple[int, int]]:
  """[start, end) character spans of the sentences of `text`, without their surrounding
  whitespace (one span per line of the marked text)."""
  spans, offset = [], 0
  for line in mark_breaks(text).split("\n"):
    stripped = line.lstrip()
    start = offset + len(line) - len(stripped)
    spans.append((start, start + len(stripped.rstrip())))
    offset += len(line) + 1
  return spans
