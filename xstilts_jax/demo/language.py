"""The synthetic languages of the embedded demo: an English-like grammar and its typological variants.

A tiny grammar describes clauses (agent, verb, patient, tense, negation and modifiers
such as "in Port Elm" or "in 1994") as language-independent meanings. Each
`LanguageProfile` renders a meaning with its own word forms, word order, adjective
order, adpositions, morphology, question strategy and script, so one meaning
rendered in every language is a parallel translation. Every token carries its UPOS
tag, entity tag, role and dependency head, so gold annotations come by construction.

Distance (`typological_distance`): a normalised Hamming distance over the eight
features of `language_features`. A categorical feature counts 1 when it differs;
morphology counts |rank difference| / 2 on the scale analytic < suffixing <
agglutinating; the lexicon counts the share of words two different languages do not
share, 1 - (1 - lexicon_a)(1 - lexicon_b), where `lexicon` is a language's share
of word forms not inherited from English (so against English it is just `lexicon`).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Optional, Union

from xstilts_jax.errors import ConfigError

# --- The English lexicon: 223 words and 95 names --------------------------

FIRST_NAMES = (
    "Anna Boris Clara David Elena Felix Greta Hugo Ingrid Jonas Karin Lukas Maria Nils Olga "
    "Peter Rosa Stefan Tara Viktor Wanda Yusuf Zora Milan Lena Oskar Nadia Emil Sofia Ivan"
).split()
LAST_NAMES = (
    "Berg Novak Costa Larsen Weber Petrov Silva Moreau Jensen Horvat Kowal Lindqvist Rossi "
    "Tanaka Okafor Haddad Varga Brandt Ferreira Dahl Meyer Sato Kaplan Quinn"
).split()
PLACES = (
    "Almora",
    "Belford",
    "Carvon",
    "Dunmore",
    "Eskar",
    "Fenwick",
    "Galdor",
    "Halden",
    "Kessel",
    "Lorn",
    "Marbury",
    "Norvik",
    "Oldham",
    "Pellar",
    "Rendon",
    "Tarsk",
    "Ulmen",
    "Vesna",
    "Port Elm",
    "New Harbor",
    "Lake Varo",
    "East Melton",
    "Santa Rilo",
    "Mount Oren",
    "Red Cliff",
    "Glen Abbey",
)
ORGANISATIONS = (
    "Velta Bank",
    "Norden Institute",
    "Orlen Group",
    "Kestrel Airlines",
    "Blue River Company",
    "Union of Farmers",
    "Arden Press",
    "Solvik Motors",
    "Tamar Foundation",
    "Delta Rail",
    "Marlow College",
    "Brio Foods",
    "Helix Labs",
    "Corvin Hotels",
    "Lumen Theatre",
)
NOUNS = (
    "key locksmith glass floor bus taxi window wallet police prize victory bread umbrella raincoat "
    "fever doctor letter reply noise door tree garden soup pot car bicycle fence brush gift friend "
    "coffee shirt finger bandage match coach cake neighbor apartment sofa map road engine alarm "
    "building fire firefighter phone puppy ticket concert flight suitcase shop money report book "
    "house museum school bridge market station hospital library park river church castle factory "
    "hotel farm boat train bottle box bag coat hat camera guitar piano horse dog cat bird flower "
    "lake village island ship plane painting song film newspaper computer lamp table chair apple "
    "cheese fish tea teacher student"
).split()
ADJECTIVES = (
    "old new small large red blue green white black quiet famous heavy cheap expensive beautiful "
    "empty broken strange young modern ancient bright dark warm cold clean dirty long short tall "
    "wooden golden tiny huge busy fresh wet dry rare simple"
).split()
VERBS = dict(
    pair.split("/")
    for pair in (
        "lose/lost call/called miss/missed take/took break/broke repair/repaired find/found win/won "
        "celebrate/celebrated burn/burned open/opened forget/forgot buy/bought catch/caught visit/visited "
        "receive/received write/wrote hear/heard check/checked plant/planted water/watered cook/cooked "
        "wash/washed sell/sold paint/painted spill/spilled change/changed cut/cut hire/hired bake/baked "
        "invite/invited rent/rented study/studied fix/fixed drive/drove leave/left see/saw feed/fed "
        "order/ordered book/booked pack/packed close/closed count/counted print/printed borrow/borrowed "
        "read/read thank/thanked meet/met help/helped follow/followed photograph/photographed "
        "describe/described watch/watched bring/brought send/sent carry/carried drop/dropped build/built "
        "clean/cleaned"
    ).split()
)
PERSON_VERBS = frozenset("visit see meet help call invite thank hire follow photograph describe watch".split())
ROUTE_VERBS = frozenset("send bring carry drive take".split())
FUNCTION_WORDS = "the a not did does will who what where when in near with for from to before after".split()
# Modifier kinds: (prepositions, kind of noun phrase).
MODIFIERS = {
    "place": (("in", "near"), "LOC"),
    "time": (("in", "before", "after"), "year"),
    "companion": (("with",), "PER"),
    "beneficiary": (("for",), "PER|ORG"),
}
# Causal knowledge for COPA/XCOPA and HellaSwag: (cause verb, noun) -> (effect verb, noun).
CAUSAL_SCHEMAS = tuple(
    tuple(s.replace(">", " ").split())
    for s in (
        "lose key>call locksmith",
        "drop glass>clean floor",
        "miss bus>take taxi",
        "break window>repair window",
        "find wallet>call police",
        "win prize>celebrate victory",
        "burn bread>open window",
        "forget umbrella>buy raincoat",
        "catch fever>visit doctor",
        "receive letter>write reply",
        "hear noise>check door",
        "plant tree>water garden",
        "cook soup>wash pot",
        "sell car>buy bicycle",
        "paint fence>wash brush",
        "open gift>thank friend",
        "spill coffee>change shirt",
        "cut finger>find bandage",
        "lose match>hire coach",
        "bake cake>invite neighbor",
        "rent apartment>buy sofa",
        "study map>find road",
        "fix engine>drive car",
        "hear alarm>leave building",
        "see fire>call firefighter",
        "break phone>order phone",
        "find puppy>feed puppy",
        "lose ticket>miss concert",
        "book flight>pack suitcase",
        "close shop>count money",
        "write report>print report",
        "borrow book>read book",
    )
)

# --- Language profiles -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LanguageProfile:
  """The typological parameters of one synthetic language."""

  code: str
  name: str
  word_order: str = "SVO"  # SVO | SOV | VSO (modifiers go before the verb in SOV)
  adjective_order: str = "AN"  # AN | NA
  adposition: str = "pre"  # pre | post
  morphology: str = "analytic"  # analytic | suffixing (case + agreement) | agglutinating (stacked suffixes)
  wh_position: str = "initial"  # initial | in_situ
  script: str = "Latn"  # Latn | Cyrl (new word forms are transliterated)
  transliterate_names: bool = False  # names (persons, places, organisations) in the language's script
  cognate_rate: float = 1.0  # share of lemmas kept as (sound-changed) English forms
  sound_changes: tuple[tuple[str, str], ...] = ()
  onsets: tuple[str, ...] = ()  # phonology of new word forms
  vowels: tuple[str, ...] = ()
  codas: tuple[str, ...] = ()


PROFILES = {
    p.code: p
    for p in (
        LanguageProfile("en", "English"),
        LanguageProfile(
            "qn",
            "Nearish",
            cognate_rate=0.5,
            sound_changes=(("th", "d"), ("sh", "sj"), ("ch", "tj"), ("c", "k"), ("w", "v"), ("y", "j")),
            onsets=tuple("b d f g h k l m n p r s t v".split()) + ("st", "sk", "br", "gr"),
            vowels=("a", "e", "i", "o", "u", "ei", "aa"),
            codas=("n", "r", "s", "t", "l", "k"),
        ),
        LanguageProfile(
            "qv",
            "Verbfirst",
            word_order="VSO",
            adjective_order="NA",
            cognate_rate=0.0,
            onsets=tuple("b c d dd f ff g ll m n p r rh s t th".split()),
            vowels=("a", "e", "i", "o", "u", "y", "ae"),
            codas=("n", "r", "dd", "l", "s", "ch"),
        ),
        LanguageProfile(
            "qs",
            "Verbfinal",
            word_order="SOV",
            adposition="post",
            morphology="agglutinating",
            wh_position="in_situ",
            cognate_rate=0.0,
            onsets=tuple("k t m n s r y h b g d z".split()),
            vowels=tuple("aiueo"),
            codas=("n", "k"),
        ),
        LanguageProfile(
            "qc",
            "Cyrillic",
            adjective_order="NA",
            morphology="suffixing",
            wh_position="in_situ",
            script="Cyrl",
            transliterate_names=True,
            cognate_rate=0.0,
            onsets=tuple("b v g d zh z k l m n p r s t ch sh kr pr st".split()),
            vowels=tuple("aeiouy"),
            codas=("k", "t", "v", "n", "l", "sh"),
        ),
    )
}
LANGUAGES = tuple(PROFILES)
_MORPHOLOGY_RANK = {"analytic": 0, "suffixing": 1, "agglutinating": 2}


def language_features(lang: str) -> dict:
  """The feature vector behind `typological_distance`."""
  p = get_profile(lang)
  return {
      "word_order": p.word_order,
      "adjective_order": p.adjective_order,
      "adposition": p.adposition,
      "morphology": p.morphology,
      "wh_position": p.wh_position,
      "script": p.script,
      "name_script": p.script if p.transliterate_names else "Latn",
      "lexicon": round(1.0 - p.cognate_rate, 6),
  }


def typological_distance(lang: str, other: str = "en") -> float:
  """Normalised Hamming distance in [0, 1] between two languages' features (see module docstring)."""
  a, b = language_features(lang), language_features(other)
  total = 0.0
  for key in a:
    if key == "morphology":
      total += abs(_MORPHOLOGY_RANK[a[key]] - _MORPHOLOGY_RANK[b[key]]) / 2
    elif key == "lexicon":
      total += 0.0 if lang == other else 1.0 - (1.0 - a[key]) * (1.0 - b[key])
    else:
      total += float(a[key] != b[key])
  return round(total / len(a), 6)


def get_profile(lang: str) -> LanguageProfile:
  if lang not in PROFILES:
    raise ConfigError(f"unknown synthetic language '{lang}' (expected one of {', '.join(LANGUAGES)})")
  return PROFILES[lang]


# --- Meanings ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NP:
  kind: str  # PER | LOC | ORG (names), noun, year
  words: tuple[str, ...]  # name words, (noun,) or (year,)
  adjectives: tuple[str, ...] = ()
  definite: bool = True


@dataclasses.dataclass(frozen=True)
class Mod:
  kind: str  # place | time | companion | beneficiary | source | goal
  prep: str
  np: NP


@dataclasses.dataclass(frozen=True)
class Clause:
  agent: NP
  verb: str
  patient: NP
  tense: str = "past"  # past | present | future
  negated: bool = False
  mods: tuple[Mod, ...] = ()


@dataclasses.dataclass(eq=False)
class Token:
  form: str
  lemma: str
  upos: str
  xpos: str = "_"  # Penn tag, English only
  ner: str = "O"
  role: str = ""  # agent | patient | verb | mod<i> | mod<i>.adp | wh | punct
  deprel: str = "punct"
  head: Optional["Token"] = None


_CYRILLIC = dict(zip("abvgdezijklmnoprstufhcwxyq", "абвгдезийклмнопрстуфхцвхык"), zh="ж", ch="ч", sh="ш")


def _to_cyrillic(text: str) -> str:
  out, i = [], 0
  while i < len(text):
    pair = text[i : i + 2].lower()
    src = pair if pair in _CYRILLIC else text[i].lower()
    dst = _CYRILLIC.get(src, text[i])
    out.append(dst.upper() if text[i].isupper() else dst)
    i += len(src)
  return "".join(out)


def _english_inflection(verb: str, infl: str) -> str:
  if infl == "past":
    return VERBS[verb]
  if infl == "s3":
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
      return verb + "es"
    return verb[:-1] + "ies" if verb.endswith("y") and verb[-2] not in "aeiou" else verb + "s"
  return verb


def _lexicon_keys() -> list[str]:
  return sorted(
      {"n:" + w for w in NOUNS}
      | {"a:" + w for w in ADJECTIVES}
      | {"v:" + w for w in VERBS}
      | {"f:" + w for w in FUNCTION_WORDS}
  )


class Language:
  """Renders meanings as tokens of one language."""

  def __init__(self, profile: LanguageProfile):
    self.profile = p = profile
    rng = random.Random(f"xstilts-synthetic-lexicon/{p.code}")  # a language does not change with the data seed
    self._forms: dict[str, tuple[str, bool]] = {}
    used: set[str] = set()
    for key in _lexicon_keys():
      english = key[2:]
      cognate = rng.random() < p.cognate_rate
      form = self._sound_change(english) if cognate else self._new_word(rng, len(english), used)
      used.add(form)
      self._forms[key] = (self._script(form), cognate)
    self.affix: dict[str, str] = {}
    for name in ("acc", "obl", "def", "past", "pres", "fut", "neg", "s3") if p.vowels else ():
      while (affix := self._script(rng.choice(p.vowels) + rng.choice(p.codas))) in self.affix.values():
        pass
      self.affix[name] = affix

  def _sound_change(self, text: str) -> str:
    for a, b in self.profile.sound_changes:
      text = text.replace(a, b)
    return text

  def _new_word(self, rng: random.Random, english_length: int, used: set[str]) -> str:
    p = self.profile
    while True:
      word = "".join(
          rng.choice(p.onsets) + rng.choice(p.vowels) + (rng.choice(p.codas) if rng.random() < 0.3 else "")
          for _ in range(max(1, min(3, (english_length + 1) // 3)))
      )
      if word not in used:
        return word

  def _script(self, text: str) -> str:
    return _to_cyrillic(text) if self.profile.script == "Cyrl" else text

  def word(self, key: str) -> str:
    return self._forms[key][0]

  def name(self, word: str) -> str:
    return _to_cyrillic(word) if self.profile.transliterate_names else word

  def _inflect(self, verb: str, infl: str) -> str:
    form, cognate = self._forms["v:" + verb]
    if cognate:
      return self._script(self._sound_change(_english_inflection(verb, infl)))
    return form + self.affix[infl]

  def _case_suffix(self, case: str) -> str:
    if self.profile.morphology == "analytic" or case == "nom":
      return ""
    if self.profile.morphology == "agglutinating" and case == "obl":
      return ""  # the postposition marks it
    return self.affix[case]

  def noun_phrase(self, np: NP, case: str, role: str) -> tuple[list[Token], Token]:
    """Tokens of a noun phrase and its head; `case` is nom | acc | obl."""
    p = self.profile
    if np.kind == "year":
      tok = Token(np.words[0], np.words[0], "NUM", "CD", role=role)
      return [tok], tok
    suffix = self._case_suffix(case)
    if np.kind in ("PER", "LOC", "ORG"):
      toks = [
          Token(self.name(w), self.name(w), "PROPN", "NNP", ("I-" if i else "B-") + np.kind, role)
          for i, w in enumerate(np.words)
      ]
      if suffix:
        toks[-1].form += ("'" if p.morphology == "agglutinating" else "") + suffix
      for tok in toks[1:]:
        tok.head, tok.deprel = toks[0], "flat"
      return toks, toks[0]
    stem = self.word("n:" + np.words[0])
    noun_suffix = (self.affix["def"] if p.morphology == "agglutinating" and np.definite else "") + suffix
    noun = Token(stem + noun_suffix, stem, "NOUN", "NN", role=role)
    adjectives = [
        Token(
            self.word("a:" + a) + (suffix if p.morphology == "suffixing" else ""),
            self.word("a:" + a),
            "ADJ",
            "JJ",
            role=role,
            deprel="amod",
            head=noun,
        )
        for a in np.adjectives
    ]
    toks = adjectives + [noun] if p.adjective_order == "AN" else [noun] + adjectives
    if p.morphology == "analytic":
      det_key = "the" if np.definite else "a"
      det = Token(self.word("f:" + det_key), self.word("f:" + det_key), "DET", "DT", role=role, deprel="det", head=noun)
      if p.code == "en" and det_key == "a" and toks[0].form[0] in "aeiou":
        det.form = "an"
      toks = [det] + toks
    return toks, noun

  def _verb_group(self, c: Clause, with_aux: bool) -> list[Token]:
    p = self.profile
    stem = self.word("v:" + c.verb)
    negation = Token(self.word("f:not"), self.word("f:not"), "PART", "RB", role="verb", deprel="advmod")
    if p.morphology == "analytic":
      if with_aux or c.negated or c.tense == "future":
        aux_key = {"past": "did", "present": "does", "future": "will"}[c.tense]
        aux = Token(
            self.word("f:" + aux_key),
            self.word("f:" + aux_key),
            "AUX",
            {"did": "VBD", "does": "VBZ", "will": "MD"}[aux_key],
            role="verb",
            deprel="aux",
        )
        toks = [aux] + ([negation] if c.negated else []) + [Token(stem, stem, "VERB", "VB", role="verb")]
      else:
        infl = "past" if c.tense == "past" else "s3"
        toks = [Token(self._inflect(c.verb, infl), stem, "VERB", "VBD" if infl == "past" else "VBZ", role="verb")]
    else:
      suffix = self.affix["neg"] if c.negated and p.morphology == "agglutinating" else ""
      suffix += self.affix[{"past": "past", "present": "pres", "future": "fut"}[c.tense]]
      toks = [Token(stem + suffix, stem, "VERB", role="verb")]
      if c.negated and p.morphology == "suffixing":
        toks.insert(0, negation)
    for tok in toks[:-1]:
      tok.head = toks[-1]
    return toks

  def _wh(self, key: str, case: str) -> Token:
    form = self.word("f:" + key) + (self._case_suffix(case) if key in ("who", "what") else "")
    return Token(form, self.word("f:" + key), "PRON" if key in ("who", "what") else "ADV", role="wh")

  def clause(self, c: Clause, question: Union[None, str, int] = None, front: Optional[int] = None) -> list[Token]:
    """Tokens of a declarative clause, or of a question about `question` (agent | patient | modifier index).

    `front` moves that modifier to the start, followed by a comma (a paraphrase of the plain order).
    """
    p = self.profile
    do_support = question not in (None, "agent") and p.wh_position == "initial" and p.morphology == "analytic"
    do_support = do_support and p.word_order == "SVO"
    verb = self._verb_group(c, with_aux=do_support)
    head = verb[-1]
    head.deprel = "root"
    wh = None

    def part(np: NP, case: str, role: str, deprel: str) -> list[Token]:
      toks, np_head = self.noun_phrase(np, case, role)
      np_head.head, np_head.deprel = head, deprel
      return toks

    if question == "agent":
      wh = self._wh("who", "nom")
      subject = [wh]
    else:
      subject = part(c.agent, "nom", "agent", "nsubj")
    if question == "patient":
      wh = self._wh("who" if c.patient.kind == "PER" else "what", "acc")
      obj = [wh]
    else:
      obj = part(c.patient, "acc", "patient", "obj")
    mods = []
    for i, m in enumerate(c.mods):
      if question == i:
        if m.np.kind not in ("LOC", "year"):
          raise ValueError(f"no question word for a {m.kind} modifier")
        wh = self._wh("where" if m.np.kind == "LOC" else "when", "obl")
        mods.append([wh])
        continue
      np_toks = part(m.np, "obl", f"mod{i}", "obl")
      adp = Token(
          self.word("f:" + m.prep),
          self.word("f:" + m.prep),
          "ADP",
          "TO" if m.prep == "to" else "IN",
          role=f"mod{i}.adp",
          deprel="case",
          head=next(t for t in np_toks if t.head is head),
      )
      mods.append([adp] + np_toks if p.adposition == "pre" else np_toks + [adp])
    fronted = mods.pop(front) if front is not None else []
    flat_mods = [t for m in mods for t in m]
    if p.word_order == "SVO":
      toks = subject + verb + obj + flat_mods
    elif p.word_order == "VSO":
      toks = verb + subject + obj + flat_mods
    else:
      toks = subject + flat_mods + obj + verb
    if wh is not None and p.wh_position == "initial":
      toks.remove(wh)
      if do_support:
        toks.remove(verb[0])
        toks = [verb[0]] + toks
      toks = [wh] + toks
    if fronted:
      toks = fronted + [Token(",", ",", "PUNCT", ",", role="punct", head=head)] + toks
    toks.append(
        Token(
            "?" if question is not None else ".",
            "?" if question is not None else ".",
            "PUNCT",
            ".",
            role="punct",
            head=head,
        )
    )
    toks[0].form = toks[0].form[:1].upper() + toks[0].form[1:]
    return toks


def detokenize(tokens: list[Token]) -> tuple[str, list[int]]:
  """The sentence text and the character offset of every token."""
  text, starts = "", []
  for i, tok in enumerate(tokens):
    if i and tok.form not in (".", ",", "?"):
      text += " "
    starts.append(len(text))
    text += tok.form
  return text, starts


def role_span(tokens: list[Token], starts: list[int], role: str) -> tuple[int, int]:
  """Character (start, end) of the contiguous tokens of one role."""
  idx = [i for i, t in enumerate(tokens) if t.role == role]
  assert idx and idx == list(range(idx[0], idx[-1] + 1)), f"role {role} is not one span"
  return starts[idx[0]], starts[idx[-1]] + len(tokens[idx[-1]].form)


def english_parses(tokens: list[Token]) -> tuple[str, str]:
  """A (binary parse, Penn parse) pair for an English declarative, as in the GLUE MNLI columns."""
  groups: list[list[Token]] = []
  for tok in tokens:
    base = tok.role.split(".")[0]
    if groups and groups[-1][0].role.split(".")[0] == base and base != "punct":
      groups[-1].append(tok)
    else:
      groups.append([tok])

  def leaves(toks):
    return [(t.xpos, t.form) for t in toks]

  def phrase(g):
    if g[0].role.startswith("mod"):
      return ("PP", leaves(g[:1]) + [("NP", leaves(g[1:]))])
    return ("NP", leaves(g))

  at = next(i for i, g in enumerate(groups) if g[0].role == "verb")
  verb, after = groups[at], groups[at + 1 :]
  inner = ("VP", leaves(verb[-1:]) + [phrase(g) for g in after if g[0].role != "punct"])
  vp = ("VP", leaves(verb[:-1]) + [inner]) if len(verb) > 1 else inner
  before = [leaves(g)[0] if g[0].role == "punct" else phrase(g) for g in groups[:at]]
  children = before + [vp] + [leaves(g)[0] for g in after if g[0].role == "punct"]
  tree = ("ROOT", [("S", children)])

  def penn(node):
    return f"({node[0]} {node[1]})" if isinstance(node[1], str) else f"({node[0]} {' '.join(map(penn, node[1]))})"

  def binary(node):
    if isinstance(node[1], str):
      return node[1]
    kids = [binary(k) for k in node[1]]
    while len(kids) > 1:
      kids[-2:] = [f"( {kids[-2]} {kids[-1]} )"]
    return kids[0]

  return binary(tree), penn(tree)
