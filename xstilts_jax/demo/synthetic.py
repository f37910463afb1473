"""Synthetic task data for the embedded default demo, written as files in the real formats.

`write_synthetic_data` renders random meanings (see language.py) in every
synthetic language and writes each task in its original release format and in the
layout of tests/data: GLUE MNLI tsv, XNLI-1.0 tsv, SQuAD v1.1 and XQuAD json,
PAN-X (XTREME tsv), UD CoNLL-U, PAWS-X tsv, SuperGLUE COPA, XCOPA and HellaSwag
jsonl, Tatoeba, BUCC 2018 and MLM text. The data then takes the same road as real
data (readers, features, metrics). Training sets are English only; dev and test
sets are parallel across languages. Output is a pure function of the arguments.

Labels by construction: NLI from adding or dropping details, polarity flips and
changed participants (see `_nli_pair`); PAWS-X from reordering (paraphrase) versus
swapping roles (not a paraphrase); COPA, XCOPA and HellaSwag from CAUSAL_SCHEMAS.
PAN-X test files keep their tags (XTREME's strip them), so the demo can score them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
import random
from typing import Optional, Union

from xstilts_jax import atomic
from xstilts_jax.demo.language import (  # noqa: F401 (LANGUAGES, PROFILES, ... are public here too)
    ADJECTIVES,
    CAUSAL_SCHEMAS,
    FIRST_NAMES,
    LANGUAGES,
    LAST_NAMES,
    MODIFIERS,
    NOUNS,
    NP,
    ORGANISATIONS,
    PERSON_VERBS,
    PLACES,
    PROFILES,
    ROUTE_VERBS,
    VERBS,
    Clause,
    Language,
    LanguageProfile,
    Mod,
    detokenize,
    english_parses,
    get_profile,
    language_features,
    role_span,
    typological_distance,
)
from xstilts_jax.errors import ConfigError

# --- Sampling meanings -------------------------------------------------------


_VERB_LIST = sorted(VERBS)


class _Sampler:
  """Draws random meanings from one seeded stream."""

  def __init__(self, seed: int, stream: str):
    self.rng = random.Random(f"xstilts-synthetic/{seed}/{stream}")

  def person(self) -> NP:
    r = self.rng
    words = (r.choice(FIRST_NAMES), r.choice(LAST_NAMES)) if r.random() < 0.8 else (r.choice(FIRST_NAMES),)
    return NP("PER", words)

  def entity(self, kind: str) -> NP:
    kind = self.rng.choice(kind.split("|"))
    if kind == "PER":
      return self.person()
    if kind == "year":
      return NP("year", (str(self.rng.randint(1950, 2023)),))
    return NP(kind, tuple(self.rng.choice(PLACES if kind == "LOC" else ORGANISATIONS).split()))

  def thing(self, noun: Optional[str] = None) -> NP:
    r = self.rng
    adjectives = tuple(r.sample(ADJECTIVES, r.choice((0, 0, 1, 1, 2))))
    return NP("noun", (noun or r.choice(NOUNS),), adjectives, definite=r.random() < 0.7)

  def mod(self, kind: str) -> Mod:
    preps, np_kind = MODIFIERS[kind]
    return Mod(kind, self.rng.choice(preps), self.entity(np_kind))

  def clause(
      self,
      n_mods: Optional[int] = None,
      kinds: tuple[str, ...] = tuple(MODIFIERS),
      verb: Optional[str] = None,
      tense: Optional[str] = None,
      negated: Optional[bool] = None,
      route: Optional[bool] = None,
  ) -> Clause:
    r = self.rng
    verb = verb or r.choice(_VERB_LIST)
    agent = self.person() if r.random() < 0.75 else self.entity("ORG")
    if verb in PERSON_VERBS and r.random() < 0.6:
      patient = self.person()
    else:
      patient = self.entity("LOC") if verb == "visit" and r.random() < 0.5 else self.thing()
    n_mods = r.choice((0, 1, 1, 2)) if n_mods is None else n_mods
    mods = [self.mod(k) for k in r.sample(kinds, min(n_mods, len(kinds)))]
    if route if route is not None else (verb in ROUTE_VERBS and r.random() < 0.5):
      source, goal = r.sample(PLACES, 2)
      mods = [
          Mod("source", "from", NP("LOC", tuple(source.split()))),
          Mod("goal", "to", NP("LOC", tuple(goal.split()))),
      ] + mods[: max(0, n_mods - 2)]
    tense = tense or r.choice(("past", "past", "past", "present", "future"))
    negated = r.random() < 0.15 if negated is None else negated
    clause = Clause(agent, verb, patient, tense, negated, tuple(mods))
    if len(_names(clause)) < 2 + len(mods):  # the same name twice in one clause reads as two persons
      return self.clause(n_mods, kinds, verb, tense, negated, route)
    return clause


# --- Task builders (meanings -> rows in every language) ----------------------


def _names(c: Clause) -> set[tuple[str, ...]]:
  """The words of every participant of a clause (names, nouns, years)."""
  return {c.agent.words, c.patient.words} | {m.np.words for m in c.mods}


def _layout(mods: tuple[Mod, ...], front: Optional[int]) -> tuple:
  """The surface order of modifiers when `front` (an index or None) is moved to the start."""
  return (mods[front] if front is not None else None,) + tuple(m for i, m in enumerate(mods) if i != front)


NLI_LABELS = ("entailment", "neutral", "contradiction")


def _nli_pair(s: _Sampler) -> tuple[Clause, Clause, str]:
  """A premise, a hypothesis and the label that holds by construction.

  Details are the patient's adjectives and the modifiers. For an affirmative premise, dropping details
  is entailed and adding one is neutral; under negation it is the other way round. Contradiction flips
  the polarity (keeping the premise's details, or fewer for an affirmative premise) or, MNLI style,
  swaps one participant of an affirmative premise for another.
  """
  r = s.rng
  label = r.choice(NLI_LABELS)
  premise = s.clause(
      n_mods=r.choice((1, 2)), kinds=("place", "time", "companion"), negated=r.random() < 0.25, route=False
  )

  def drop(c: Clause) -> Clause:
    if c.patient.adjectives and (not c.mods or r.random() < 0.3):
      return dataclasses.replace(c, patient=dataclasses.replace(c.patient, adjectives=c.patient.adjectives[1:]))
    i = r.randrange(len(c.mods))
    return dataclasses.replace(c, mods=c.mods[:i] + c.mods[i + 1 :])

  def add(c: Clause) -> Clause:
    free = [k for k in ("place", "time", "companion", "beneficiary") if k not in {m.kind for m in c.mods}]
    if c.patient.kind == "noun" and (not free or r.random() < 0.3):
      extra = r.choice([a for a in ADJECTIVES if a not in c.patient.adjectives])
      return dataclasses.replace(c, patient=dataclasses.replace(c.patient, adjectives=(extra,) + c.patient.adjectives))
    mod = s.mod(r.choice(free))
    if mod.np.words in _names(c):
      return add(c)
    return dataclasses.replace(c, mods=c.mods + (mod,))

  if label == "entailment":
    hypothesis = add(premise) if premise.negated else drop(premise)
  elif label == "neutral":
    hypothesis = drop(premise) if premise.negated else add(premise)
  elif premise.negated or r.random() < 0.5:
    hypothesis = dataclasses.replace(premise, negated=not premise.negated)
    if not premise.negated and r.random() < 0.5:
      hypothesis = drop(hypothesis)
  else:
    i = r.randrange(len(premise.mods) + 1)
    if i == len(premise.mods):
      other = s.person() if premise.agent.kind == "PER" else s.entity("ORG")
      hypothesis = dataclasses.replace(premise, agent=other)
    else:
      m = premise.mods[i]
      other = s.mod(m.kind).np
      hypothesis = dataclasses.replace(
          premise, mods=premise.mods[:i] + (dataclasses.replace(m, np=other),) + premise.mods[i + 1 :]
      )
    if other.words in _names(premise):
      return _nli_pair(s)
  return premise, hypothesis, label


def _paws_pair(s: _Sampler) -> tuple[tuple[Clause, Optional[int]], tuple[Clause, Optional[int]], int]:
  """Two renderings with the same words: a reordering (paraphrase, 1) or swapped roles (0)."""
  r = s.rng
  if r.random() < 0.5:  # two persons that can swap agent and patient
    clause = s.clause(verb=r.choice(sorted(PERSON_VERBS)), n_mods=1, route=False)
    clause = dataclasses.replace(clause, agent=s.person(), patient=s.person())
    if len({clause.agent.words, clause.patient.words, clause.mods[0].np.words}) < 3:
      return _paws_pair(s)
    swapped = dataclasses.replace(clause, agent=clause.patient, patient=clause.agent)
  else:  # a route whose source and goal can swap
    clause = s.clause(verb=r.choice(sorted(ROUTE_VERBS)), n_mods=r.choice((2, 3)), route=True)
    source, goal = clause.mods[:2]
    swapped = dataclasses.replace(
        clause,
        mods=(dataclasses.replace(source, np=goal.np), dataclasses.replace(goal, np=source.np)) + clause.mods[2:],
    )
  first = (clause, r.choice((None, 0)))
  if r.random() < 0.5:  # reversed modifiers, some fronted: never the same surface order as `first`
    reordered = tuple(reversed(clause.mods))
    fronts = [
        f for f in (None,) + tuple(range(len(reordered))) if _layout(reordered, f) != _layout(clause.mods, first[1])
    ]
    return first, (dataclasses.replace(clause, mods=reordered), r.choice(fronts)), 1
  return first, (swapped, r.choice((None, 0))), 0


def _copa_item(s: _Sampler) -> tuple[Clause, Clause, Clause, str]:
  """(premise, right alternative, wrong alternative, cause|effect) from the causal schemas."""
  r = s.rng
  right, wrong = r.sample(range(len(CAUSAL_SCHEMAS)), 2)
  agent = s.person()

  def event(schema: int, part: int) -> Clause:
    verb, noun = CAUSAL_SCHEMAS[schema][2 * part : 2 * part + 2]
    return Clause(agent, verb, NP("noun", (noun,)))

  question = r.choice(("cause", "effect"))
  known = 1 if question == "cause" else 0
  return event(right, known), event(right, 1 - known), event(wrong, 1 - known), question


def _qa_paragraph(s: _Sampler) -> tuple[list[Clause], list[tuple[int, Clause, Union[str, int]]]]:
  """A few clauses with distinct verbs and names, and questions (clause index, question clause, role)."""
  r = s.rng
  clauses: list[Clause] = []
  used: set = set()
  n_clauses = r.choice((3, 4, 5))
  while len(clauses) < n_clauses:
    c = s.clause(
        n_mods=r.choice((1, 2)), kinds=("place", "time", "companion"), tense="past", negated=False, route=False
    )
    keys = {("verb", c.verb), c.agent.words, c.patient.words} | {m.np.words for m in c.mods}
    if not keys & used:
      used |= keys
      clauses.append(c)
  questions = []
  for i in sorted(r.sample(range(n_clauses), min(r.choice((2, 3, 4)), n_clauses))):
    c = clauses[i]
    roles: list[Union[str, int]] = ["agent", "patient"]
    roles += [j for j, m in enumerate(c.mods) if m.prep == "in"]
    role = r.choice(roles)
    keep = [j for j in range(len(c.mods)) if j == role or r.random() < 0.5]
    q = dataclasses.replace(c, mods=tuple(c.mods[j] for j in keep))
    questions.append((i, q, keep.index(role) if isinstance(role, int) else role))
  return clauses, questions


# --- Writers (rows -> files in the original formats) ---------------------------

DEFAULT_SIZES = {
    "mnli_train": 3000,
    "nli_eval": 200,  # MNLI train; MNLI dev_matched and XNLI dev/test per language
    "squad_train": 1000,
    "qa_eval": 75,  # paragraphs (2-4 questions each): SQuAD train; SQuAD dev, XQuAD
    "panx_train": 2000,
    "udpos_train": 2000,
    "tagging_eval": 200,
    "paws_train": 2000,
    "paws_eval": 200,
    "copa_train": 1000,
    "copa_eval": 100,  # COPA train; COPA val and XCOPA val/test per language
    "siqa_train": 500,
    "siqa_eval": 50,  # Social IQa-style English train and dev (XTREME-R trains XCOPA on SIQA, then COPA)
    "hellaswag_train": 2000,
    "hellaswag_eval": 200,
    "tatoeba": 200,  # aligned pairs per language
    "bucc_gold": 100,
    "bucc_extra": 100,  # per split: gold pairs, unpaired sentences on each side
    "mlm_train": 2000,
    "mlm_eval": 200,  # lines per language
}


def _text(lang: Language, clause: Clause, **kwargs) -> str:
  return detokenize(lang.clause(clause, **kwargs))[0]


def _tsv(rows: list[list]) -> str:
  return "".join("\t".join(str(x) for x in row) + "\n" for row in rows)


def _jsonl(rows: list[dict], ascii_only: bool = True) -> str:
  return "".join(json.dumps(row, ensure_ascii=ascii_only) + "\n" for row in rows)


def _nli_files(seed, sizes, langs):
  en = langs["en"]
  files = {}
  for name, n in (("train", sizes["mnli_train"]), ("dev_matched", sizes["nli_eval"])):
    s = _Sampler(seed, f"mnli/{name}")
    labels = ["label1"] if name == "train" else [f"label{i}" for i in range(1, 6)]
    rows = [
        [
            "index",
            "promptID",
            "pairID",
            "genre",
            "sentence1_binary_parse",
            "sentence2_binary_parse",
            "sentence1_parse",
            "sentence2_parse",
            "sentence1",
            "sentence2",
        ]
        + labels
        + ["gold_label"]
    ]
    for i in range(n):
      premise, hypothesis, label = _nli_pair(s)
      p_toks, h_toks = en.clause(premise), en.clause(hypothesis)
      (p_bin, p_penn), (h_bin, h_penn) = english_parses(p_toks), english_parses(h_toks)
      rows.append(
          [
              i,
              10000 + i,
              f"{10000 + i}{label[0]}",
              "synthetic",
              p_bin,
              h_bin,
              p_penn,
              h_penn,
              detokenize(p_toks)[0],
              detokenize(h_toks)[0],
          ]
          + [label] * len(labels)
          + [label]
      )
    files[f"mnli/MNLI/{name}.tsv"] = (_tsv(rows), n)
  for split in ("dev", "test"):
    s = _Sampler(seed, f"xnli/{split}")
    pairs = [_nli_pair(s) for _ in range(sizes["nli_eval"])]
    rows = [
        [
            "language",
            "gold_label",
            "sentence1_binary_parse",
            "sentence2_binary_parse",
            "sentence1_parse",
            "sentence2_parse",
            "sentence1",
            "sentence2",
            "promptID",
            "pairID",
            "genre",
            "label1",
            "label2",
            "label3",
            "label4",
            "label5",
            "sentence1_tokenized",
            "sentence2_tokenized",
            "match",
        ]
    ]
    for code, lang in langs.items():
      for i, (premise, hypothesis, label) in enumerate(pairs):
        p_toks, h_toks = lang.clause(premise), lang.clause(hypothesis)
        rows.append(
            [code, label, "", "", "", "", detokenize(p_toks)[0], detokenize(h_toks)[0], i + 1, i + 1, "synthetic"]
            + [label] * 5
            + [" ".join(t.form for t in toks) for toks in (p_toks, h_toks)]
            + ["True"]
        )
    files[f"xnli/XNLI-1.0/xnli.{split}.tsv"] = (_tsv(rows), len(pairs) * len(langs))
  return files


def _squad_json(
    lang: Language, paragraphs, prefix: str, answers_per_question: int, sentence_breaks: bool = False
) -> tuple[dict, int]:
  """SQuAD v1.1 data: five paragraphs per article; ids depend only on `prefix` and position (parallel).

  sentence_breaks: XQuAD-R's layout (LAReQA): each paragraph also holds its `sentences` and
  their [start, end) character spans in the context, `sentence_breaks` (one clause a sentence).
  """
  articles, count = [], 0
  for p_idx, (clauses, questions) in enumerate(paragraphs):
    sentences = [lang.clause(c) for c in clauses]
    context, offsets, breaks = "", [], []
    for toks in sentences:
      context += " " if context else ""
      offsets.append(len(context))
      context += detokenize(toks)[0]
      breaks.append([offsets[-1], len(context)])
    qas = []
    for q_idx, (i, q_clause, role) in enumerate(questions):
      toks = sentences[i]
      text, starts = detokenize(toks)
      context_role = role
      if isinstance(role, int):  # the question may have dropped modifiers: the context's index differs
        context_role = f"mod{clauses[i].mods.index(q_clause.mods[role])}"
      start, end = role_span(toks, starts, context_role)
      answer = {"answer_start": offsets[i] + start, "text": text[start:end]}
      qid = hashlib.sha1(f"{prefix}/{p_idx}/{q_idx}".encode()).hexdigest()[:24]
      qas.append(
          {
              "answers": [answer] * answers_per_question,
              "question": detokenize(lang.clause(q_clause, question=role))[0],
              "id": qid,
          }
      )
    if p_idx % 5 == 0:
      articles.append({"title": f"Synthetic_{prefix.split('/')[-1]}_{p_idx // 5:04d}", "paragraphs": []})
    paragraph = {"context": context, "qas": qas}
    if sentence_breaks:
      paragraph.update(sentence_breaks=breaks, sentences=[context[a:b] for a, b in breaks])
    articles[-1]["paragraphs"].append(paragraph)
    count += len(qas)
  return {"data": articles, "version": "1.1"}, count


def _qa_files(seed, sizes, langs):
  files = {}
  for split, n in (("train", sizes["squad_train"]), ("dev", sizes["qa_eval"])):
    s = _Sampler(seed, f"squad/{split}")
    data, count = _squad_json(
        langs["en"], [_qa_paragraph(s) for _ in range(n)], f"squad/{split}", 1 if split == "train" else 3
    )
    files[f"squad_v1.1/{split}-v1.1.json"] = (json.dumps(data), count)
  s = _Sampler(seed, "xquad")
  paragraphs = [_qa_paragraph(s) for _ in range(sizes["qa_eval"])]
  for code, lang in langs.items():
    data, count = _squad_json(lang, paragraphs, "xquad", 1)
    files[f"xquad/xquad.{code}.json"] = (json.dumps(data, indent=2, sort_keys=True) + "\n", count)
    # XQuAD-R (LAReQA): the same parallel paragraphs with their sentence breaks, as the release
    data, count = _squad_json(lang, paragraphs, "xquad", 1, sentence_breaks=True)
    files[f"lareqa/xquad-r/{code}.json"] = (json.dumps(data, ensure_ascii=False) + "\n", count)
  return files


def _conllu(lang: Language, clauses_fronts, split: str) -> str:
  blocks = []
  for i, (clause, front) in enumerate(clauses_fronts):
    toks = lang.clause(clause, front=front)
    index = {id(t): n + 1 for n, t in enumerate(toks)}
    lines = [f"# sent_id = {lang.profile.code}-syn-{split}-{i + 1:05d}", f"# text = {detokenize(toks)[0]}"]
    for n, t in enumerate(toks):
      space = "SpaceAfter=No" if n + 1 < len(toks) and toks[n + 1].form in (".", ",", "?") else "_"
      head = index[id(t.head)] if t.head is not None else 0
      xpos = t.xpos if lang.profile.code == "en" else "_"  # Penn tags are English tags
      lines.append("\t".join([str(n + 1), t.form, t.lemma, t.upos, xpos, "_", str(head), t.deprel, "_", space]))
    blocks.append("\n".join(lines) + "\n\n")
  return "".join(blocks)


def _tagging_files(seed, sizes, langs):
  files = {}
  for task in ("panx", "udpos"):
    for split in ("train", "dev", "test"):
      n = sizes[f"{task}_train"] if split == "train" else sizes["tagging_eval"]
      s = _Sampler(seed, f"{task}/{split}")
      items = [(s.clause(), s.rng.choice((None,) * 4 + (0,))) for _ in range(n)]
      items = [(c, f if c.mods else None) for c, f in items]
      for code, lang in langs.items():
        if split == "train" and code != "en":
          continue
        if task == "panx":
          text = "".join("".join(f"{t.form}\t{t.ner}\n" for t in lang.clause(c, front=f)) + "\n" for c, f in items)
          files[f"panx/xtreme_format/{split}-{code}.tsv"] = (text, n)
        else:
          files[f"udpos/UD_{lang.profile.name}-SYN/{code}_syn-ud-{split}.conllu"] = (_conllu(lang, items, split), n)
  return files


def _paws_files(seed, sizes, langs):
  files = {}
  for split, n in (("train", sizes["paws_train"]), ("dev_2k", sizes["paws_eval"]), ("test_2k", sizes["paws_eval"])):
    s = _Sampler(seed, f"pawsx/{split}")
    pairs = [_paws_pair(s) for _ in range(n)]
    for code, lang in langs.items():
      if split == "train" and code != "en":
        continue
      rows = [["id", "sentence1", "sentence2", "label"]]
      rows += [
          [i + 1, _text(lang, a[0], front=a[1]), _text(lang, b[0], front=b[1]), label]
          for i, (a, b, label) in enumerate(pairs)
      ]
      files[f"pawsx/x-final/{code}/{split}.tsv"] = (_tsv(rows), n)
  return files


def _multiple_choice_files(seed, sizes, langs):
  files = {}
  en = langs["en"]

  def copa_rows(lang, items, xcopa):
    rows = []
    for idx, ((premise, right, wrong, question), label) in enumerate(items):
      choices = (right, wrong) if label == 0 else (wrong, right)
      row = {
          "premise": _text(lang, premise),
          "choice1": _text(lang, choices[0]),
          "choice2": _text(lang, choices[1]),
          "question": question,
          "label": label,
          "idx": idx,
      }
      rows.append(dict(row, changed=False) if xcopa else row)
    return rows

  for split, n in (("train", sizes["copa_train"]), ("val", sizes["copa_eval"])):
    s = _Sampler(seed, f"copa/{split}")
    items = [(_copa_item(s), s.rng.randrange(2)) for _ in range(n)]
    files[f"copa/COPA/{split}.jsonl"] = (_jsonl(copa_rows(en, items, False)), n)
  for split in ("val", "test"):
    s = _Sampler(seed, f"xcopa/{split}")
    items = [(_copa_item(s), s.rng.randrange(2)) for _ in range(sizes["copa_eval"])]
    for code, lang in langs.items():
      files[f"xcopa/data/{code}/{split}.{code}.jsonl"] = (_jsonl(copa_rows(lang, items, True), False), len(items))
  for split, n in (("trn", sizes["siqa_train"]), ("dev", sizes["siqa_eval"])):
    s = _Sampler(seed, f"siqa/{split}")
    rows = []
    for _ in range(n):  # a COPA item with a third answer: another schema's event, same agent
      premise, right, wrong, question = _copa_item(s)
      other = right
      while (other.verb, other.patient) in ((right.verb, right.patient), (wrong.verb, wrong.patient)):
        other = dataclasses.replace(_copa_item(s)[2], agent=premise.agent)
      answers = [right, wrong, other]
      s.rng.shuffle(answers)
      rows.append(
          {
              "context": _text(en, premise),
              "question": "What caused this?" if question == "cause" else "What happened next?",
              **{f"answer{k}": _text(en, a) for k, a in zip("ABC", answers)},
              "correct": "ABC"[answers.index(right)],
          }
      )
    files[f"siqa/socialIQa_v1.4_{split}.jsonl"] = (_jsonl(rows), n)
  for split, n in (("train", sizes["hellaswag_train"]), ("val", sizes["hellaswag_eval"])):
    s = _Sampler(seed, f"hellaswag/{split}")
    rows = []
    for i in range(n):
      schemas = s.rng.sample(range(len(CAUSAL_SCHEMAS)), 4)
      agent, label = s.person(), s.rng.randrange(4)
      cause_verb, cause_noun = CAUSAL_SCHEMAS[schemas[label]][:2]
      ctx_a = _text(en, Clause(agent, cause_verb, s.thing(cause_noun)))
      endings = []  # the effect of every sampled schema; the one at `label` follows from the context
      for k in schemas:
        toks = en.clause(Clause(agent, CAUSAL_SCHEMAS[k][2], s.thing(CAUSAL_SCHEMAS[k][3])))
        endings.append(detokenize([t for t in toks if t.role != "agent"])[0])
      ctx_b = " ".join(en.name(w) for w in agent.words)
      rows.append(
          {
              "ind": i,
              "activity_label": f"{cause_verb.capitalize()} {cause_noun}",
              "ctx_a": ctx_a,
              "ctx_b": ctx_b,
              "ctx": f"{ctx_a} {ctx_b}",
              "split": split,
              "split_type": "indomain",
              "label": label,
              "endings": endings,
              "source_id": f"synthetic~{split}-{i}",
          }
      )
    files[f"hellaswag/hellaswag_{split}.jsonl"] = (_jsonl(rows), n)
  return files


def _unique_clauses(s: _Sampler, langs: list[Language], n: int) -> list[Clause]:
  """n clauses whose sentences are distinct in each of `langs` (qc has no articles: 'a car' = 'the car')."""
  out, taken = [], [set() for _ in langs]
  while len(out) < n:
    c = s.clause()
    texts = [_text(lang, c) for lang in langs]
    if not any(text in seen for text, seen in zip(texts, taken)):
      for text, seen in zip(texts, taken):
        seen.add(text)
      out.append(c)
  return out


def _retrieval_files(seed, sizes, langs):
  files = {}
  en = langs["en"]
  for code, lang in langs.items():
    if code == "en":
      continue
    s = _Sampler(seed, f"tatoeba/{code}")
    clauses = _unique_clauses(s, [en, lang], sizes["tatoeba"])
    files[f"tatoeba/tatoeba.{code}-eng.{code}"] = ("".join(_text(lang, c) + "\n" for c in clauses), len(clauses))
    files[f"tatoeba/tatoeba.{code}-eng.eng"] = ("".join(_text(en, c) + "\n" for c in clauses), len(clauses))
    for split in ("sample", "training"):
      s = _Sampler(seed, f"bucc2018/{code}/{split}")
      gold, extra = sizes["bucc_gold"], sizes["bucc_extra"]
      clauses = _unique_clauses(s, [en, lang], gold + 2 * extra)
      source = [(k, c) for k, c in enumerate(clauses[: gold + extra])]
      target = [(k, c) for k, c in enumerate(clauses) if k < gold or k >= gold + extra]
      s.rng.shuffle(source)
      s.rng.shuffle(target)
      src_id = {k: f"{code}-{i + 1:09d}" for i, (k, _) in enumerate(source)}
      tgt_id = {k: f"en-{i + 1:09d}" for i, (k, _) in enumerate(target)}
      stem = f"bucc2018/{code}-en/{code}-en.{split}"
      files[f"{stem}.{code}"] = ("".join(f"{src_id[k]}\t{_text(lang, c)}\n" for k, c in source), len(source))
      files[f"{stem}.en"] = ("".join(f"{tgt_id[k]}\t{_text(en, c)}\n" for k, c in target), len(target))
      pairs = sorted((src_id[k], tgt_id[k]) for k in range(gold))
      files[f"{stem}.gold"] = ("".join(f"{a}\t{b}\n" for a, b in pairs), gold)
  return files


def _mlm_files(seed, sizes, langs):
  files = {}
  for code, lang in langs.items():
    for split, n in (("train", sizes["mlm_train"]), ("dev", sizes["mlm_eval"])):
      s = _Sampler(seed, f"mlm/{code}/{split}")  # monolingual text: not parallel across languages
      lines = []
      for _ in range(n):
        c = s.clause()
        kind = s.rng.random()
        if kind < 0.1:
          askable = [i for i, m in enumerate(c.mods) if m.np.kind in ("LOC", "year")]
          lines.append(_text(lang, c, question=s.rng.choice(["agent", "patient"] + askable)))
        else:
          lines.append(_text(lang, c, front=0 if c.mods and kind < 0.2 else None))
      files[f"mlm/{code}/{split}.txt"] = ("".join(line + "\n" for line in lines), n)
  return files


def write_synthetic_data(
    out_dir: Union[str, Path], seed: int = 0, sizes: Optional[dict] = None, languages: Optional[list[str]] = None
) -> dict:
  """Writes every task's files under `out_dir` (the layout of tests/data) and returns the manifest.

  `sizes` overrides keys of DEFAULT_SIZES; `languages` is a subset of LANGUAGES that includes "en".
  The same arguments give byte-identical files. The manifest is also written to out_dir/manifest.json.
  """
  unknown = sorted(set(sizes or {}) - set(DEFAULT_SIZES))
  if unknown:
    raise ConfigError(f"synthetic data: unknown size key(s) {unknown} (expected some of {sorted(DEFAULT_SIZES)})")
  sizes = {**DEFAULT_SIZES, **(sizes or {})}
  bad = [k for k, v in sizes.items() if not isinstance(v, int) or v < 0]
  if bad:
    raise ConfigError(f"synthetic data: sizes {bad} must be non-negative integers")
  codes = list(languages or LANGUAGES)
  for code in codes:
    get_profile(code)
  if "en" not in codes:
    raise ConfigError("synthetic data: languages must include 'en' (training data is English)")
  langs = {code: Language(PROFILES[code]) for code in LANGUAGES if code in codes}
  files: dict[str, tuple[str, int]] = {}
  for build in (
      _nli_files,
      _qa_files,
      _tagging_files,
      _paws_files,
      _multiple_choice_files,
      _retrieval_files,
      _mlm_files,
  ):
    files.update(build(seed, sizes, langs))
  out = Path(out_dir)
  for rel, (text, _) in sorted(files.items()):
    atomic.write_text(out / rel, text)
  manifest = {
      "generator": "xstilts_jax.demo.synthetic",
      "format_version": 1,
      "seed": seed,
      "sizes": sizes,
      "distance": "normalised Hamming distance to en over the 8 features (morphology counts rank difference / 2, "
      "lexicon counts the share of new word forms)",
      "languages": {
          code: {
              "name": PROFILES[code].name,
              "tatoeba_code": code if code != "en" else "eng",
              "features": language_features(code),
              "distance_to_en": typological_distance(code),
          }
          for code in langs
      },
      "files": {rel: count for rel, (_, count) in sorted(files.items())},
  }
  atomic.write_text(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
  return manifest
