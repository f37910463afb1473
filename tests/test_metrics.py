"""Metrics against independent implementations and hand-checked cases."""

import collections
import random
import re
import string
import unicodedata

import numpy as np
import pytest
from seqeval import metrics as seqeval_metrics
from sklearn import metrics as sk_metrics

from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.evaluation import metrics
from xstilts_jax.evaluation import retrieval_metrics as rm
from xstilts_jax.evaluation.metrics import METRICS

# --- classification -------------------------------------------------------------------------


def test_registry_has_every_name_the_specs_use():
  assert set(METRICS) == {
      "accuracy",
      "accuracy_f1",
      "seqeval_f1",
      "squad_v1",
      "squad_v2",
      "mlqa",
      "bucc_f1",
      "tatoeba_accuracy",
      "token_accuracy",
      "mlm_accuracy",
  }


def test_accuracy_and_accuracy_f1_match_sklearn_on_random_cases():
  rng = np.random.default_rng(0)
  for _ in range(200):
    n = int(rng.integers(1, 40))
    gold = [str(v) for v in rng.integers(0, 2, n)]
    pred = [str(v) for v in rng.integers(0, 2, n)]
    acc = 100 * sk_metrics.accuracy_score(gold, pred)
    f1 = 100 * sk_metrics.f1_score(gold, pred, pos_label="1", zero_division=0)
    got = metrics.accuracy_f1(pred, gold)
    assert got["accuracy"] == pytest.approx(acc)
    assert got["f1"] == pytest.approx(f1)
    assert got["accuracy_f1"] == pytest.approx((acc + f1) / 2)
    assert metrics.accuracy(pred, gold)["accuracy"] == pytest.approx(acc)


def test_accuracy_hand_cases():
  assert metrics.accuracy(["a", "b", "c", "a"], ["a", "b", "a", "a"])["accuracy"] == 75.0
  assert metrics.accuracy([0, 2, 1], [0, 2, 2])["accuracy"] == pytest.approx(200 / 3)
  # QQP: 1 true positive, 1 false positive, 1 false negative -> F1 = 2/4 = 50; accuracy 2/4.
  got = metrics.accuracy_f1([1, 1, 0, 0], [1, 0, 1, 0])
  assert (got["accuracy"], got["f1"], got["accuracy_f1"]) == (50.0, 50.0, 50.0)
  with pytest.raises(DataError, match="3 predictions but 2 gold"):
    metrics.accuracy([1, 2, 3], [1, 2])


# --- tagging --------------------------------------------------------------------------------

UPOS = ["NOUN", "VERB", "ADJ", "ADP", "PROPN", "PUNCT", "DET", "X", "NUM", "AUX"]
BIO = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("tags", [UPOS, BIO, UPOS + BIO])
def test_seqeval_f1_matches_seqeval_on_random_sequences(tags):
  rng = random.Random(len(tags))
  for _ in range(100):
    lengths = [rng.randint(1, 12) for _ in range(rng.randint(1, 6))]
    gold = [[rng.choice(tags) for _ in range(n)] for n in lengths]
    # Predictions near the gold, so that scores are spread over 0..100.
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in s] for s in gold]
    got = metrics.seqeval_f1(pred, gold)
    assert got["f1"] == pytest.approx(100 * seqeval_metrics.f1_score(gold, pred))
    assert got["precision"] == pytest.approx(100 * seqeval_metrics.precision_score(gold, pred))
    assert got["recall"] == pytest.approx(100 * seqeval_metrics.recall_score(gold, pred))


def test_seqeval_f1_chunks_unprefixed_upos_tags():
  # Legacy seqeval reads NOUN as tag "N" of type "OUN": the run NOUN NOUN is one chunk.
  # gold chunks: NOUN[0-1], VERB[2]; predicted: NOUN[0], ADJ[1], VERB[2] -> 1 correct.
  # precision 1/3, recall 1/2, F1 = 2 * (1/6) / (5/6) = 0.4. Token accuracy would be 2/3.
  got = metrics.seqeval_f1([["NOUN", "ADJ", "VERB"]], [["NOUN", "NOUN", "VERB"]])
  assert got["precision"] == pytest.approx(100 / 3)
  assert got["recall"] == pytest.approx(50.0)
  assert got["f1"] == pytest.approx(40.0)
  assert metrics.token_accuracy([["NOUN", "ADJ", "VERB"]], [["NOUN", "NOUN", "VERB"]])["accuracy"] == pytest.approx(
      200 / 3
  )


def test_seqeval_f1_entity_cases():
  # gold: PER[0-1], LOC[3]; predicted PER[0-1], ORG[3] -> P = R = F1 = 1/2.
  got = metrics.seqeval_f1([["B-PER", "I-PER", "O", "B-ORG"]], [["B-PER", "I-PER", "O", "B-LOC"]])
  assert got == pytest.approx({"f1": 50.0, "precision": 50.0, "recall": 50.0})
  # Legacy mode: an I- tag after O opens a chunk, so this is the same entity.
  assert metrics.seqeval_f1([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])["f1"] == 100.0
  with pytest.raises(DataError, match="sentence 1: 2 predicted tags but 3 gold"):
    metrics.seqeval_f1([["O"], ["O", "O"]], [["O"], ["O", "O", "O"]])


def test_mlm_accuracy():
  pred = np.array([[5, 6, 7], [8, 9, 1]])
  gold = np.array([[5, -100, 0], [8, 9, -100]])
  # scored: (5,5) (7,0) (8,8) (9,9) -> 3 of 4
  assert metrics.mlm_accuracy(pred, gold) == {"accuracy": 75.0, "num_predicted": 4}


# --- SQuAD, written here from the official rules --------------------------------------------


def _ref_normalize(s):
  s = s.lower()
  s = "".join(ch for ch in s if ch not in set(string.punctuation))
  s = re.sub(r"\b(a|an|the)\b", " ", s)
  return " ".join(s.split())


def _ref_f1(pred_tokens, gold_tokens):
  common = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
  if common == 0:
    return 0.0
  p, r = common / len(pred_tokens), common / len(gold_tokens)
  return 2 * p * r / (p + r)


def _ref_squad_v1(preds, refs):
  em = f1 = 0.0
  for qid, golds in refs.items():
    if qid in preds:
      em += max(_ref_normalize(preds[qid]) == _ref_normalize(g) for g in golds)
      f1 += max(_ref_f1(_ref_normalize(preds[qid]).split(), _ref_normalize(g).split()) for g in golds)
  return 100 * em / len(refs), 100 * f1 / len(refs)


def _ref_squad_v2(preds, refs):
  ems, f1s = [], []
  for qid, golds in refs.items():
    if qid not in preds:
      continue
    golds = [g for g in golds if _ref_normalize(g)] or [""]
    p = preds[qid]
    ems.append(max(float(_ref_normalize(g) == _ref_normalize(p)) for g in golds))

    def f1(g):
      gt = _ref_normalize(g).split() if g else []
      pt = _ref_normalize(p).split() if p else []
      if not gt or not pt:
        return float(gt == pt)
      return _ref_f1(pt, gt)

    f1s.append(max(f1(g) for g in golds))
  return 100 * np.mean(ems), 100 * np.mean(f1s)


_WORDS = [
    "the",
    "The",
    "a",
    "an",
    "An",
    "Denver",
    "broncos",
    "Broncos,",
    "super",
    "bowl!",
    "50",
    "cat's",
    "(cat)",
    "x-ray",
    "  ",
    "theatre",
    "anne",
    "…",
    "«Paris»",
    "état",
]


def _random_answer(rng, allow_empty=False):
  n = rng.randint(0 if allow_empty else 1, 5)
  return " ".join(rng.choice(_WORDS) for _ in range(n))


def test_squad_v1_matches_reference_on_random_cases():
  rng = random.Random(1)
  for _ in range(60):
    refs = {f"q{i}": [_random_answer(rng) for _ in range(rng.randint(1, 3))] for i in range(20)}
    preds = {
        q: (rng.choice(g) if rng.random() < 0.3 else _random_answer(rng))
        for q, g in refs.items()
        if rng.random() < 0.95
    }
    em, f1 = _ref_squad_v1(preds, refs)
    got = metrics.squad_v1(preds, refs)
    assert got["exact_match"] == pytest.approx(em)
    assert got["f1"] == pytest.approx(f1)
    assert got["missing"] == len(refs) - len(preds)


def test_squad_v2_matches_reference_on_random_cases():
  rng = random.Random(2)
  for _ in range(60):
    refs = {
        f"q{i}": ([] if rng.random() < 0.3 else [_random_answer(rng) for _ in range(rng.randint(1, 3))])
        for i in range(20)
    }
    preds = {q: ("" if rng.random() < 0.3 else _random_answer(rng, allow_empty=True)) for q in refs}
    em, f1 = _ref_squad_v2(preds, refs)
    got = metrics.squad_v2(preds, refs)
    assert got["exact"] == pytest.approx(em)
    assert got["f1"] == pytest.approx(f1)


def test_squad_hand_cases():
  refs = {"1": ["Denver Broncos", "The Denver Broncos"], "2": ["Denver Broncos"], "3": ["Santa Clara, California"]}
  preds = {"1": "the denver broncos!", "2": "Broncos", "3": "Levi's Stadium"}
  # 1: exact after normalisation. 2: 1 common token, P=1, R=1/2 -> F1 2/3. 3: nothing common.
  got = metrics.squad_v1(preds, refs)
  assert got["exact_match"] == pytest.approx(100 / 3)
  assert got["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
  # A missing prediction scores 0 but counts in the total (v1.1 behaviour).
  got = metrics.squad_v1({"1": "Denver Broncos"}, refs)
  assert (got["exact_match"], got["missing"]) == (pytest.approx(100 / 3), 2)


def test_squad_v2_hand_cases():
  refs = {"has": ["Normandy"], "none": [], "article": ["The"]}
  preds = {"has": "in Normandy", "none": "", "article": ""}
  got = metrics.squad_v2(preds, refs)
  # has: EM 0, F1 2*(1/2*1)/(3/2) = 2/3. none: "" vs no answer -> 1, 1.
  # article: "The" normalises to "" so the gold becomes [""] and "" matches -> 1, 1.
  assert got["exact"] == pytest.approx(200 / 3)
  assert got["f1"] == pytest.approx(100 * (2 / 3 + 2) / 3)
  assert got["HasAns_total"] == 2 and got["NoAns_total"] == 1
  assert got["HasAns_exact"] == pytest.approx(50.0)
  assert got["NoAns_f1"] == 100.0
  assert metrics.squad_v2({"none": "something"}, {"none": []})["f1"] == 0.0


# --- MLQA, hand-checked per language --------------------------------------------------------


@pytest.mark.parametrize(
    "language,prediction,gold,exact,f1",
    [
        # en: "the" and "." go -> "eiffel tower" both sides.
        ("en", "the Eiffel Tower.", "Eiffel Tower", 1, 1),
        ("en", "Broncos", "Denver Broncos", 0, 2 / 3),  # P 1, R 1/2
        # es: "los" is an article -> "estados unidos".
        ("es", "los Estados Unidos", "Estados Unidos", 1, 1),
        ("es", "el río Amazonas", "Amazonas", 0, 2 / 3),  # [río, amazonas] vs [amazonas]
        # de: "der", "die" are articles; ',' is punctuation.
        ("de", "der Rhein", "Rhein", 1, 1),
        ("de", "die Stadt Berlin", "Berlin, die Hauptstadt", 0, 0.5),  # [stadt berlin] / [berlin hauptstadt]
        # vi: "những" is in the article list -> "con mèo".
        ("vi", "những con mèo", "con mèo", 1, 1),
        ("vi", "Hà Nội", "thành phố Hà Nội", 0, 2 * (1 * 0.5) / 1.5),  # 2 of 2 vs 2 of 4
        # ar: every "ال" becomes a space, also inside words: "مالك" -> "م ك", same as the gold.
        ("ar", "الكتاب", "كتاب", 1, 1),
        ("ar", "مالك", "م ك", 1, 1),
        ("ar", "الولايات المتحدة", "المتحدة", 0, 2 / 3),  # [ولايات متحدة] vs [متحدة]
        # zh: each ideograph a token; 《》 are punctuation and go.
        ("zh", "《红楼梦》", "红楼梦", 1, 1),
        ("zh", "北京大学", "北京", 0, 2 / 3),  # 2 common of 4 vs 2: P 1/2, R 1
        ("zh", "2008年奥运会", "2008年", 0, 2 * 0.4 / 1.4),  # [2008 年 奥 运 会] vs [2008 年]
        ("zh", "龍龜", "龍", 0, 2 / 3),  # U+9F8D, U+9F9C: inside U+4E00..U+9FA5, one token each
        ("zh", "\u9fa6\u9fa7", "\u9fa6", 0, 0),  # ideographs past U+9FA5 stay one token
        # hi: no articles; the danda "।" is Unicode punctuation.
        ("hi", "भारत।", "भारत", 1, 1),
        ("hi", "भारत का इतिहास", "इतिहास", 0, 0.5),  # P 1/3, R 1 -> 2*(1/3)/(4/3)
    ],
)
def test_mlqa_hand_cases(language, prediction, gold, exact, f1):
  got = metrics.mlqa({"q": prediction}, {"q": [gold]}, language)
  assert got["exact_match"] == pytest.approx(100 * exact)
  assert got["f1"] == pytest.approx(100 * f1)


def test_mlqa_language_rules_differ():
  # "la" is a Spanish article but not an English one; "the" is English only.
  assert metrics.mlqa({"q": "la casa"}, {"q": ["casa"]}, "es")["exact_match"] == 100.0
  assert metrics.mlqa({"q": "la casa"}, {"q": ["casa"]}, "en")["exact_match"] == 0.0
  # English: "…" (U+2026, Po) counts as punctuation in MLQA but not in SQuAD.
  assert metrics.mlqa({"q": "Paris…"}, {"q": ["Paris"]}, "en")["exact_match"] == 100.0
  assert metrics.squad_v1({"q": "Paris…"}, {"q": ["Paris"]})["exact_match"] == 0.0
  with pytest.raises(ConfigError, match="'fr'"):
    metrics.mlqa({"q": "x"}, {"q": ["x"]}, "fr")


def _ref_mlqa_tokens_zh(text):
  # Independent reading of the rule: lowercase, drop P*/ASCII punctuation, then every
  # U+4E00..U+9FA5 character alone and whitespace splits the rest.
  text = "".join(c for c in text.lower() if not (unicodedata.category(c).startswith("P") or c in string.punctuation))
  return re.findall(r"[\u4e00-\u9fa5]|[^\s\u4e00-\u9fa5]+", text)


def test_mlqa_zh_matches_independent_tokeniser_on_random_strings():
  rng = random.Random(3)
  alphabet = list("北京大学红楼梦年奥运会龍\u9fa6") + list("ab1 ，。《》") + ["  ", "Ab"]
  for _ in range(200):
    pred = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
    gold = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
    p, g = _ref_mlqa_tokens_zh(pred), _ref_mlqa_tokens_zh(gold)
    got = metrics.mlqa({"q": pred}, {"q": [gold]}, "zh")
    assert got["exact_match"] == 100.0 * (" ".join(p) == " ".join(g))
    assert got["f1"] == pytest.approx(100 * _ref_f1(p, g))


# --- BUCC -----------------------------------------------------------------------------------


def test_bucc_margin_scores_by_hand():
  # x = [e1, e2], y = [e1, (e1+e2)/sqrt2]; k = min(2, 4) = 2 neighbours.
  # cos: x1.y1 = 1, x1.y2 = x2.y2 = c = 1/sqrt2, x2.y1 = 0.
  # mean k-NN: x1 (1+c)/2, x2 c/2, y1 1/2, y2 c.
  # margin(x1,y1) = 1 / (((1+c)/2 + 1/2) / 2); margin(x2,y2) = c / ((c/2 + c) / 2) = 4/3.
  c = 1 / np.sqrt(2)
  x = np.array([[1.0, 0, 0], [0, 1.0, 0]])
  y = np.array([[1.0, 0, 0], [c, c, 0]])
  got = rm.mine_candidates(x, y, ["s1", "s2"], ["t1", "t2"])
  assert set(got) == {("s1", "t1"), ("s2", "t2")}
  assert got[("s1", "t1")] == pytest.approx(1 / (((1 + c) / 2 + 0.5) / 2), rel=1e-6)
  assert got[("s2", "t2")] == pytest.approx(4 / 3, rel=1e-6)
  # Gold {s1-t1}: the best cut is after the first candidate, midway to the second.
  result = rm.bucc_f1(x, y, ["s1", "s2"], ["t1", "t2"], [("s1", "t1")])
  assert result["threshold"] == pytest.approx((got[("s1", "t1")] + 4 / 3) / 2, rel=1e-6)
  assert (result["f1"], result["precision"], result["recall"]) == (100.0, 100.0, 100.0)


def test_bucc_pairs_scoring_zero_or_less_are_not_candidates():
  # x = [e1, e2], y = [e1, c e1 + d e2] with c = 3/sqrt10, d = -1/sqrt10; k = 2 (all).
  # mean k-NN cos: x1 (1+c)/2 = .974, x2 d/2 = -.158, y1 1/2, y2 (c+d)/2 = .316.
  # x1: y1 1/((.974+.5)/2) = 1.357, y2 c/((.974+.316)/2) = 1.470 -> y2. x2: y1 0, y2 -4 -> y1.
  # Greedy: (x1,y2) 1.470 kept; (x1,y1) blocked; (x2,y1) scores 0 -> not a candidate.
  c, d = 3 / np.sqrt(10), -1 / np.sqrt(10)
  got = rm.mine_candidates(np.eye(2), np.array([[1.0, 0], [c, d]]), ["s1", "s2"], ["t1", "t2"])
  assert list(got) == [("s1", "t2")]
  assert got[("s1", "t2")] == pytest.approx(c / (((1 + c) / 2 + (c + d) / 2) / 2), rel=1e-6)


def test_bucc_threshold_choice_by_hand():
  candidates = {("a", "b"): 3.0, ("c", "d"): 2.0, ("e", "f"): 1.5, ("g", "h"): 1.0}
  gold = {("a", "b"), ("e", "f"), ("x", "y")}
  # Cut after 1st: P 1, R 1/3, F1 .5. After 2nd: .4. After 3rd: P 2/3, R 2/3, F1 2/3 (best,
  # threshold (1.5 + 1.0) / 2). After 4th: P 1/2, R 2/3, F1 .571.
  assert rm.best_threshold(candidates, gold) == 1.25
  assert rm.extract_pairs(candidates, 1.25) == {("a", "b"), ("c", "d"), ("e", "f")}
  assert rm.pairs_f1(rm.extract_pairs(candidates, 1.25), gold) == pytest.approx(
      {"f1": 200 / 3, "precision": 200 / 3, "recall": 200 / 3}
  )
  # Best cut after the last candidate: its own score; no correct candidate: 0.
  assert rm.best_threshold({("a", "b"): 2.0, ("c", "d"): 1.0}, {("c", "d")}) == 1.0
  assert rm.best_threshold({("a", "b"): 2.0}, {("c", "d")}) == 0.0


def _planted_bucc(rng, n_pairs, n_src_only, n_trg_only, dim=64, noise=0.05):
  base = rng.normal(size=(n_pairs, dim))
  src = np.concatenate([base + noise * rng.normal(size=base.shape), rng.normal(size=(n_src_only, dim))])
  trg = np.concatenate([base + noise * rng.normal(size=base.shape), rng.normal(size=(n_trg_only, dim))])
  src_order, trg_order = rng.permutation(len(src)), rng.permutation(len(trg))
  src, trg = src[src_order], trg[trg_order]
  src_ids = [f"xx-{i:06d}" for i in range(len(src))]
  trg_ids = [f"en-{i:06d}" for i in range(len(trg))]
  position_src = {orig: new for new, orig in enumerate(src_order)}
  position_trg = {orig: new for new, orig in enumerate(trg_order)}
  gold = [(src_ids[position_src[p]], trg_ids[position_trg[p]]) for p in range(n_pairs)]
  return src, trg, src_ids, trg_ids, gold


def test_bucc_planted_pairs_dev_threshold_transfers_to_test():
  rng = np.random.default_rng(4)
  dev = _planted_bucc(rng, 40, 10, 15)
  test = _planted_bucc(rng, 60, 20, 5)
  dev_result = rm.bucc_f1(*dev)
  assert dev_result["f1"] == 100.0
  test_result = rm.bucc_f1(*test, threshold=dev_result["threshold"])
  assert test_result["f1"] == 100.0
  assert test_result["threshold"] == dev_result["threshold"]
  # A threshold above every score extracts nothing.
  assert rm.bucc_f1(*test, threshold=1e9)["f1"] == 0.0


def _brute_force_mine(x, y, k):
  """The reference procedure written out with full matrices and loops."""
  x = x / np.linalg.norm(x, axis=1, keepdims=True)
  y = y / np.linalg.norm(y, axis=1, keepdims=True)
  sim = x @ y.T
  kf, kb = min(k, len(y)), min(k, len(x))
  fwd_nn = [np.argsort(-sim[i])[:kf] for i in range(len(x))]
  bwd_nn = [np.argsort(-sim[:, j])[:kb] for j in range(len(y))]
  mx = [sim[i, fwd_nn[i]].mean() for i in range(len(x))]
  my = [sim[bwd_nn[j], j].mean() for j in range(len(y))]
  margin = lambda i, j: sim[i, j] / ((mx[i] + my[j]) / 2)
  entries = []
  for i in range(len(x)):
    j = max(fwd_nn[i], key=lambda j: margin(i, j))
    entries.append((margin(i, j), i, j))
  for j in range(len(y)):
    i = max(bwd_nn[j], key=lambda i: margin(i, j))
    entries.append((margin(i, j), i, j))
  out, seen_i, seen_j = {}, set(), set()
  for score, i, j in sorted(entries, key=lambda e: -e[0]):
    if i not in seen_i and j not in seen_j:
      seen_i.add(i)
      seen_j.add(j)
      if score > 0:
        out[(i, j)] = score
  return out


def test_bucc_blocked_mining_matches_brute_force_on_random_embeddings():
  rng = np.random.default_rng(5)
  for trial in range(8):
    nx, ny = int(rng.integers(1, 30)), int(rng.integers(1, 30))
    x, y = rng.normal(size=(nx, 8)), rng.normal(size=(ny, 8))
    expected = _brute_force_mine(x, y, 4)
    got = rm.mine_candidates(
        x, y, [str(i) for i in range(nx)], [str(j) for j in range(ny)], block_size=int(rng.integers(1, 7))
    )
    assert {(int(s), int(t)): v for (s, t), v in got.items()} == pytest.approx(expected, rel=1e-5)


def test_bucc_repeated_sentences_are_merged_then_dropped():
  x = np.array([[1.0, 0], [1.0, 0], [0, 1.0]])
  y = np.array([[1.0, 0.1], [0.1, 1.0]])
  texts = ["Hallo.", "Hallo.", "Tschüss."]
  got = rm.mine_candidates(x, y, ["d1", "d2", "d3"], ["e1", "e2"], texts, ["Hello.", "Bye."])
  # "Hallo." occurs twice: it is mined once but has no single id, so only d3-e2 remains.
  assert list(got) == [("d3", "e2")]
  without_texts = rm.mine_candidates(x, y, ["d1", "d2", "d3"], ["e1", "e2"])
  assert ("d3", "e2") in without_texts and len(without_texts) == 2


def test_nearest_neighbours_ties_go_to_the_lowest_index():
  # Integer vectors: every inner product is exact, so the ties below are exact.
  y = np.array([[1, 0], [0, 1], [1, 0], [2, 0], [1, 0], [0, 1]], np.float32)
  x = np.array([[1, 0], [0, 1], [0, 0]], np.float32)
  for block_size in (1, 2, 3, 1024):
    fwd_sim, fwd_ind, bwd_sim, bwd_ind = rm.nearest_neighbours(x, y, 3, 2, block_size)
    # x0: y3 (2), then y0, y2, y4 tie at 1: the two lowest, y0 and y2, in index order.
    assert fwd_ind[0].tolist() == [3, 0, 2] and fwd_sim[0].tolist() == [2, 1, 1]
    assert fwd_ind[1].tolist() == [1, 5, 0]  # then all zeros: y0 is the lowest of them
    assert fwd_ind[2].tolist() == [0, 1, 2]  # all zero
    # Backward: y0 sees x0 (1) then x1, x2 tie at 0 -> x1; y1 sees x1, then x0.
    assert bwd_ind[:2].tolist() == [[0, 1], [1, 0]], block_size
    assert bwd_sim[3].tolist() == [2, 0]


def test_tatoeba_ties_go_to_the_lowest_index():
  english = np.array([[1.0, 0.0], [0.0, 1.0]])
  source = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
  assert rm.tatoeba_predictions(source, english).tolist() == [1, 0]
  assert rm.tatoeba_predictions(source, english, query="source").tolist() == [1, 0, 0, 1]


# --- Tatoeba --------------------------------------------------------------------------------


def test_tatoeba_planted_embeddings():
  rng = np.random.default_rng(6)
  english = rng.normal(size=(50, 32))
  source = english + 0.01 * rng.normal(size=english.shape)
  source[[3, 7]] = english[[8, 9]]  # two source sentences are copies of other lines
  # English -> source: English 8 and 9 have two exact copies (source 3/8, 7/9) and pick one of
  # them, English 3 and 7 find no copy of themselves. Source -> English: 3 and 7 are wrong.
  assert metrics.tatoeba_accuracy(source, english, query="source")["accuracy"] == 96.0
  english_query = rm.tatoeba_predictions(source, english)
  assert english_query[3] != 3 and english_query[7] != 7
  assert all(english_query[i] == i for i in range(50) if i not in (3, 7, 8, 9))


def test_tatoeba_query_direction_matters():
  e1, e2, e3 = np.eye(3)
  english = np.stack([e1, e2, e3])
  source = np.stack([e1, e1 + 0.1 * e2, e3])
  # English e2's nearest source is source 2 (the only one with an e2 part): all correct.
  # Source 2 = e1 + 0.1 e2 is nearer English e1 (cos 0.995) than e2 (0.0995): one wrong.
  assert metrics.tatoeba_accuracy(source, english)["accuracy"] == 100.0
  assert metrics.tatoeba_accuracy(source, english, query="source")["accuracy"] == pytest.approx(200 / 3)
  assert metrics.tatoeba_accuracy(source, english, gold=[0, 0, 2])["accuracy"] == pytest.approx(200 / 3)


# --- XTREME score ---------------------------------------------------------------------------

# XLM-R Large test scores as printed in the X-STILTs reference notes (shared/reference/xstilts.md, section 5).
XLMR_LARGE = {
    "xnli": {"accuracy": 79.2},
    "pawsx": {"accuracy": 86.4},
    "udpos": {"f1": 72.6},
    "panx": {"f1": 65.4},
    "xquad": {"f1": 76.6, "exact_match": 60.8},
    "mlqa": {"f1": 71.6, "exact_match": 53.2},
    "tydiqa": {"f1": 65.1, "exact_match": 45.0},
    "bucc2018": {"f1": 66.0},
    "tatoeba": {"accuracy": 57.3},
}


def _every_language(task_scores):
  return {task: {lang: scores for lang in metrics.XTREME_TEST_LANGUAGES[task]} for task, scores in task_scores.items()}


def test_xtreme_score_of_published_xlmr_large_is_68_1():
  got = metrics.xtreme_score(_every_language(XLMR_LARGE))
  assert round(got["overall"], 1) == 68.1
  assert got["complete"] and not got["missing_tasks"]
  assert got["tasks"]["xquad"] == pytest.approx((76.6 + 60.8) / 2)
  assert got["categories"]["qa"] == pytest.approx(((76.6 + 60.8) / 2 + (71.6 + 53.2) / 2 + (65.1 + 45.0) / 2) / 3)
  assert got["categories"]["classification"] == pytest.approx((79.2 + 86.4) / 2)


def test_xtreme_score_averages_languages_and_flags_gaps():
  results = {
      "xnli": {"en": {"accuracy": 90.0}, "de": {"accuracy": 80.0}, "xx": {"accuracy": 0.0}},
      "mlqa": {"en": {"f1": 80.0, "exact": 60.0}, "de": {"f1": 70.0, "exact": 50.0}},
      "mnli": {"en": {"accuracy": 99.0}},
  }
  got = metrics.xtreme_score(results)
  assert got["tasks"] == {"xnli": 85.0, "mlqa": 65.0}  # (75 + 55) / 2
  assert got["overall"] == 75.0
  assert got["categories"] == {"classification": 85.0, "qa": 65.0}
  assert "udpos" in got["missing_tasks"] and not got["complete"]
  assert got["ignored_languages"] == {"xnli": ["xx"]}
  assert "ar" in got["missing_languages"]["xnli"]
  with pytest.raises(DataError, match="has no 'accuracy'"):
    metrics.xtreme_score({"pawsx": {"en": {"f1": 1.0}}})


def test_main_score():
  assert metrics.main_score("squad_v1", {"f1": 80.0, "exact_match": 70.0}) == 75.0
  assert metrics.main_score("seqeval_f1", {"f1": 60.0, "precision": 1, "recall": 1}) == 60.0
  assert metrics.main_score("accuracy_f1", {"accuracy": 1, "f1": 3, "accuracy_f1": 2}) == 2
