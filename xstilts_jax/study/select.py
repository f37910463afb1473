"""Question 2's data arms: a syntactically diverse subset of an English intermediate dataset,
and a random subset of the same size and the same label balance (`xstilts select`).

The measure is the Shannon entropy (bits) of POS trigrams (trigrams never cross a text
boundary), tagged by study/tagger.py's averaged perceptron trained on a UD English train
file. Without a UD file the measure falls back to the word-class proxy of
data/diversity.py (`word_class`), and the summary names which measure was used.

Texts measured per example: a pair's two sentences (classification), the question
(span QA: contexts repeat across questions), the context and each choice (multiple
choice), the words (tagging). Labels: the class label (classification, multiple
choice); span QA and tagging have none and are one stratum.

Selection is greedy: every step adds the example that raises the entropy of the selected
subset's trigram counts most, among those whose label still has room; each label's room
is its share of `size` (largest remainder), which the random subset takes too. With more
than `pool` examples left, a step looks at a seeded random `pool` of them (stochastic
greedy, Mirzasoleiman et al. 2015) instead of all. Both subsets are written in the
dataset's original format, at the task's own relative path under OUT/diverse and
OUT/random; every other file of the data dir is linked (symlinks) beside it, so
`data.data_dir=OUT/diverse` runs a whole experiment with the selected file in its place.
"""

from __future__ import annotations

from collections import Counter
import json
import math
from pathlib import Path
import random
import shutil
from typing import Optional, Sequence, Union

from xstilts_jax.atomic import write_text
from xstilts_jax.data import diversity, sources
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.study.tagger import PerceptronTagger, conllu_sentences, train_ud_tagger
from xstilts_jax.tasks import registry

MEASURES = ("pos", "word_class")
WRITABLE_READERS = ("read_glue_mnli", "read_glue_qqp", "read_glue_sst2", "read_squad_json", "read_conllu")
N = 3


def example_texts(example) -> list[list[str]]:
  """The token sequences of one example that the measure reads (module docstring)."""
  if hasattr(example, "text_a"):
    texts = [example.text_a] + ([example.text_b] if example.text_b else [])
  elif hasattr(example, "question"):
    texts = [example.question]
  elif hasattr(example, "choices"):
    texts = [example.context, *example.choices]
  elif hasattr(example, "words"):
    return [list(example.words)]
  else:
    raise ConfigError(f"cannot measure examples of type {type(example).__name__}")
  return [diversity.tokenize(t) for t in texts]


def example_label(example) -> Optional[str]:
  label = getattr(example, "label", None)
  return None if label is None else str(label)


def tag_sequences(sequences: Sequence[Sequence[str]], tagger: Optional[PerceptronTagger]) -> list[list[str]]:
  """POS tags of each sequence, or (tagger None) the word-class proxy."""
  if tagger is None:
    return [[diversity.word_class(t, i == 0) for i, t in enumerate(s)] for s in sequences]
  return [tagger.tag(s) if s else [] for s in sequences]


def trigrams(tag_seqs: Sequence[Sequence[str]]) -> Counter:
  return Counter(tuple(s[i : i + N]) for s in tag_seqs for i in range(len(s) - N + 1))


def entropy_bits(counts: Counter) -> float:
  total = sum(counts.values())
  if not total:
    return 0.0
  return max(0.0, -sum(c / total * math.log2(c / total) for c in counts.values() if c))


def ngram_entropy(
    examples_tags: Sequence[Sequence[Sequence[str]]], max_tokens: Optional[int] = None, seed: int = 0
) -> float:
  """Entropy (bits) of tag trigrams over examples (each a list of tag sequences); with
  max_tokens, over the first max_tokens tokens of a seeded shuffle of the examples, so
  that subsets of different token counts are compared on equal amounts of text."""
  order = list(range(len(examples_tags)))
  random.Random(seed).shuffle(order)
  kept, size = [], 0
  for i in order:
    for seq in examples_tags[i]:
      if max_tokens is not None and size >= max_tokens:
        break
      cut = list(seq) if max_tokens is None else list(seq)[: max_tokens - size]
      kept.append(cut)
      size += len(cut)
  return entropy_bits(trigrams(kept))


def quotas(labels: Sequence[Optional[str]], size: int) -> dict[Optional[str], int]:
  """Each label's share of `size` in proportion to its count (largest remainder)."""
  counts = Counter(labels)
  total = len(labels)
  exact = {l: size * c / total for l, c in counts.items()}
  room = {l: math.floor(v) for l, v in exact.items()}
  rest = size - sum(room.values())
  for l in sorted(counts, key=lambda l: (-(exact[l] - room[l]), str(l)))[:rest]:
    room[l] += 1
  return room


def random_subset(labels: Sequence[Optional[str]], room: dict, seed: int) -> list[int]:
  rng = random.Random(seed)
  chosen = []
  for label in sorted(room, key=str):
    members = [i for i, l in enumerate(labels) if l == label]
    chosen += rng.sample(members, room[label])
  return sorted(chosen)


def diverse_subset(
    grams: Sequence[Counter], labels: Sequence[Optional[str]], room: dict, seed: int = 0, pool: int = 2000
) -> list[int]:
  """Greedy maximum-entropy selection of sum(room.values()) examples (module docstring)."""
  room = dict(room)
  rng = random.Random(seed)
  counts: Counter = Counter()
  total = 0
  s = 0.0  # sum of c * ln(c) over the selected counts
  left = set(range(len(grams)))
  chosen = []

  def entropy_after(i: int) -> float:
    t = total + sum(grams[i].values())
    if not t:
      return 0.0
    new_s = s
    for g, m in grams[i].items():
      c = counts[g]
      new_s += (c + m) * math.log(c + m) - (c * math.log(c) if c else 0.0)
    return math.log(t) - new_s / t

  for _ in range(sum(room.values())):
    open_ = sorted(i for i in left if room[labels[i]] > 0)
    if len(open_) > pool:
      open_ = sorted(rng.sample(open_, pool))
    best = max(open_, key=lambda i: (entropy_after(i), -i))
    for g, m in grams[best].items():
      c = counts[g]
      s += (c + m) * math.log(c + m) - (c * math.log(c) if c else 0.0)
      counts[g] = c + m
    total += sum(grams[best].values())
    left.discard(best)
    room[labels[best]] -= 1
    chosen.append(best)
  return sorted(chosen)


# ----------------------------------------------------------------------------- writers


def _write_tsv_rows(path: Path, ids: set[str], out: Path) -> None:
  lines = [l for l in path.read_text("utf-8").split("\n") if l.strip()]
  rows = lines[1:]
  kept = [r for i, r in enumerate(rows) if str(i) in ids]
  write_text(out, "\n".join([lines[0], *kept]) + "\n")


def _write_squad(path: Path, ids: set[str], out: Path) -> None:
  data = json.loads(path.read_text("utf-8"))
  articles = []
  for article in data["data"]:
    paragraphs = []
    for paragraph in article["paragraphs"]:
      qas = [qa for qa in paragraph["qas"] if str(qa["id"]) in ids]
      if qas:
        paragraphs.append({**paragraph, "qas": qas})
    if paragraphs:
      articles.append({**article, "paragraphs": paragraphs})
  write_text(out, json.dumps({**data, "data": articles}, ensure_ascii=False))


def _write_conllu(path: Path, ids: set[str], out: Path, expected: int) -> None:
  blocks, block = [], []
  for line in path.read_text("utf-8").split("\n"):
    if line.strip():
      block.append(line)
    elif block:
      blocks.append(block)
      block = []
  if block:
    blocks.append(block)
  if len(blocks) != expected:
    raise DataError(
        f"{path}: {len(blocks)} sentence blocks but the reader kept {expected}; "
        "cannot map sentences back to the file"
    )
  write_text(out, "".join("\n".join(b) + "\n\n" for i, b in enumerate(blocks) if str(i) in ids))


def write_subset(reader: str, path: Path, ids: set[str], out: Path, expected: int) -> None:
  """The examples `ids` (as the reader numbers them) of `path`, in its format, to `out`."""
  if reader in ("read_glue_mnli", "read_glue_qqp", "read_glue_sst2"):
    _write_tsv_rows(path, ids, out)
  elif reader == "read_squad_json":
    _write_squad(path, ids, out)
  elif reader == "read_conllu":
    _write_conllu(path, ids, out, expected)
  else:
    raise ConfigError(f"xstilts select writes {', '.join(WRITABLE_READERS)} files; " f"this task's reader is {reader}")


def overlay(data_dir: Path, relative: Path, subset_file: Path, out: Path) -> None:
  """OUT as a copy of data_dir in which `relative` is `subset_file` and everything else a
  symlink to the original (directories on the way to `relative` are real)."""
  original, here = Path(data_dir).resolve(), Path(out)
  for i, part in enumerate(relative.parts):
    here.mkdir(parents=True, exist_ok=True)
    for entry in sorted(original.iterdir()):
      link = here / entry.name
      if entry.name != part and not link.exists() and not link.is_symlink():
        link.symlink_to(entry)
    original, here = original / part, here / part
  shutil.copyfile(subset_file, here)


# ----------------------------------------------------------------------------- the command


def select(
    task: str,
    size: int,
    out: Union[str, Path],
    data_dir: Union[str, Path],
    split: str = "train",
    ud_train: Optional[Union[str, Path]] = None,
    ud_dev: Optional[Union[str, Path]] = None,
    seed: int = 0,
    pool: int = 2000,
) -> dict:
  """Write OUT/diverse and OUT/random subsets of `task`'s English `split`; return the summary
  (also written to OUT/selection.json)."""
  if task not in registry.TASKS:
    raise ConfigError(f"unknown task {task!r} (see `xstilts tasks`)")
  spec = registry.TASKS[task]
  if spec.local is None or spec.local.reader not in WRITABLE_READERS:
    raise ConfigError(
        f"task {task}: xstilts select writes {', '.join(WRITABLE_READERS)} files "
        f"(this task's reader: {spec.local.reader if spec.local else 'none'})"
    )
  paths = sources.local_paths(spec, "en", split, data_dir)
  if len(paths) != 1:
    raise ConfigError(f"task {task}: select needs one file, found {len(paths)}")
  examples = sources.load_examples(spec, "en", split, "local", data_dir)
  if not 0 < size < len(examples):
    raise ConfigError(
        f"--size {size}: must be between 1 and {len(examples) - 1} " f"({task} {split} has {len(examples)} examples)"
    )
  out = Path(out)
  for name in ("diverse", "random"):
    if (out / name).exists():
      raise ConfigError(f"--out {out}: {out / name} exists already; choose a new --out")
  tagger, measure, tagger_accuracy = None, "word_class (proxy: data/diversity.py)", None
  if ud_train is not None:
    tagger = train_ud_tagger(ud_train, seed=seed)
    measure = "pos (averaged-perceptron UPOS tagger on " + Path(ud_train).name + ")"
    if ud_dev is not None:
      tagger_accuracy = tagger.accuracy(conllu_sentences(ud_dev))
  tags = [tag_sequences(example_texts(e), tagger) for e in examples]
  grams = [trigrams(t) for t in tags]
  labels = [example_label(e) for e in examples]
  room = quotas(labels, size)
  subsets = {"diverse": diverse_subset(grams, labels, room, seed, pool), "random": random_subset(labels, room, seed)}
  relative = paths[0].relative_to(Path(data_dir))
  tokens = {k: sum(len(s) for i in v for s in tags[i]) for k, v in subsets.items()}
  equal = min(tokens.values())
  summary = {
      "task": task,
      "split": split,
      "source": str(paths[0]),
      "size": size,
      "examples": len(examples),
      "measure": measure,
      "n": N,
      "seed": seed,
      "tagger_dev_accuracy": tagger_accuracy,
      "label_counts": {str(k): v for k, v in sorted(room.items(), key=str)},
  }
  for name, chosen in subsets.items():
    ids = {examples[i].id for i in chosen}
    target = out / name / relative
    subset_file = out / f"{name}.{relative.name}"
    write_subset(spec.local.reader, paths[0], ids, subset_file, len(examples))
    overlay(Path(data_dir), relative, subset_file, out / name)
    marker = {"task": task, "subset": name, "size": size, "measure": measure, "seed": seed}
    (out / name / sources.SUBSET_FILE).unlink(missing_ok=True)  # a link to the original's own marker
    write_text(out / name / sources.SUBSET_FILE, json.dumps(marker) + "\n")
    summary[name] = {
        "file": str(target),
        "tokens": tokens[name],
        "entropy_bits": ngram_entropy([tags[i] for i in chosen]),
        "entropy_bits_equal_tokens": ngram_entropy([tags[i] for i in chosen], equal, seed),
    }
  summary["equal_tokens"] = equal
  write_text(out / "selection.json", json.dumps(summary, indent=1) + "\n")
  return summary


def run_from_args(args) -> int:
  summary = select(args.task, args.size, args.out, args.data_dir, args.split, args.ud_train, args.ud_dev, args.seed)
  print(json.dumps(summary, indent=1))
  return 0
