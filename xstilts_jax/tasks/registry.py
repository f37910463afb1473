"""Every task of the project as a TaskSpec, and lookup by name.

Local layouts are relative to a data_dir laid out like each dataset's original
release (the layout of tests/data). Patterns may hold `{lang}` (ISO 639-1),
`{lang3}` (Tatoeba's ISO 639-3, see `iso639_3`) and shell wildcards; a wildcard
that matches several files is merged only by `read_conllu` (UD treebanks).
Hub configs may also hold `{lang_name}` (English name, e.g. "udpos.German").

Choices worth knowing:
- mnli, snli, anli_r1..3 (and translate_train_mnli) share the head "nli" with the
  sorted labels (contradiction, entailment, neutral); ANLI+ = TASK_GROUPS["anli_plus"].
- xquad and tydiqa have one evaluation split, "test": XQuAD is test-only and
  XTREME's TyDiQA-GoldP test set is the official GoldP dev file. TyDiQA trains on
  the `english-` ids of the GoldP train file only (strict zero-shot).
- xcopa (XTREME-R) trains on English COPA (SuperGLUE release; 400 examples). XTREME-R
  first trains on SIQA, then on COPA: that recipe is TRAIN_RECIPES["xcopa"]["siqa_copa"]
  (`train_recipe`), the one benchmark "xtreme-r" selects; "copa" is the COPA-only one.
- Benchmarks: BENCHMARKS maps "xtreme" and "xtreme-r" to their tasks and test languages
  (google-research/xtreme evaluate.py's XTREME_TASK2LANGS and XTREME_R_TASK2LANGS);
  `get_task(name, benchmark=...)` gives a task with that benchmark's languages. XTREME-R
  drops PAWS-X and BUCC, adds XCOPA, Mewsli-X and LAReQA, and languages to UD-POS (lt pl
  uk wo ro, from a newer UD release), WikiANN (qu pl uk az lt pa gu ro), Tatoeba (az lt
  pl uk ro) and XQuAD (ro). The registry's own language lists are XTREME's.
- lareqa (XQuAD-R) is one multilingual pool: each language's questions are scored against
  the candidate sentences of all 11 languages (`read_xquad_r` reads every `<lang>.json`
  beside the named one). Its training task, XTREME-R's retrieval version of SQuAD v1.1
  (sentences from its rule-based sentence breaker), is not registered yet.
- mewslix reads the Mewsli-X release files (wikinews_mentions-{dev,test}.jsonl, filtered
  by context language, against candidate_set_entities.jsonl beside them); it trains on
  mewslix_wikipedia (wikipedia_pairs-{train,dev}.jsonl, English).
- bucc2018 is local-only: the hub (google/xtreme bucc18.*) and TFDS (bucc/*)
  copies hold only the gold pairs, without the distractor sentences that make
  mining hard, so they would measure an easier task.
- ccg is local-only: CCGbank is LDC-licensed (LDC2005T13). Its labels are an open
  set (`labels == ()`): take them from the training data.
- max_seq_length follows jiant's XTREME scripts: 256 for sentence and tagging
  tasks, 384 for QA, 512 for retrieval.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Iterable, Optional

from xstilts_jax.errors import ConfigError
from xstilts_jax.tasks.spec import HubSource, LocalSource, TaskSpec, TfdsSource

METRICS = (
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
    "lareqa_map",
    "mewslix_map",
)
CATEGORIES = ("classification", "structured", "qa", "retrieval")

NLI_LABELS = ("contradiction", "entailment", "neutral")
BINARY_LABELS = ("0", "1")
UPOS_TAGS = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

# XTREME language lists (google-research/xtreme evaluate.py; jiant agrees).
XNLI_LANGUAGES = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
PAWSX_LANGUAGES = tuple("de en es fr ja ko zh".split())
UDPOS_LANGUAGES = tuple(
    "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te " "th tl tr ur vi yo zh".split()
)
PANX_LANGUAGES = tuple(
    "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms "
    "my nl pt ru sw ta te th tl tr ur vi yo zh".split()
)
XQUAD_LANGUAGES = tuple("ar de el en es hi ru th tr vi zh".split())
MLQA_LANGUAGES = tuple("ar de en es hi vi zh".split())
TYDIQA_LANGUAGES = tuple("ar bn en fi id ko ru sw te".split())
BUCC_LANGUAGES = tuple("de fr ru zh".split())
TATOEBA_LANGUAGES = tuple(
    "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt "
    "ru sw ta te th tl tr ur vi zh".split()
)
XCOPA_LANGUAGES = tuple("et ht id it qu sw ta th tr vi zh".split())
LAREQA_LANGUAGES = tuple("ar de el en es hi ru th tr vi zh".split())  # XQuAD-R
MEWSLIX_LANGUAGES = tuple("ar de en es fa ja pl ro ta tr uk".split())  # mention languages
# XTREME-R's additions (google-research/xtreme evaluate.py, XTREME_R_TASK2LANGS).
XTREME_R_UDPOS_LANGUAGES = UDPOS_LANGUAGES + tuple("lt pl uk wo ro".split())
XTREME_R_PANX_LANGUAGES = PANX_LANGUAGES + tuple("qu pl uk az lt pa gu ro".split())
XTREME_R_TATOEBA_LANGUAGES = TATOEBA_LANGUAGES + tuple("az lt pl uk ro".split())
XTREME_R_XQUAD_LANGUAGES = XQUAD_LANGUAGES + ("ro",)
# UDPOS languages without a dev set (kk: train+test; th, tl, yo: test only).
UDPOS_TEST_ONLY = ("kk", "th", "tl", "yo")
XTREME_LANGUAGES = PANX_LANGUAGES  # the 40 XTREME languages

# ISO 639-3 codes as LASER's Tatoeba file names spell them (individual languages
# where LASER uses them: cmn, pes, swh, not the macrolanguages zho, fas, swa).
_ISO639_3 = {
    "af": "afr",
    "ar": "ara",
    "az": "aze",
    "bg": "bul",
    "bn": "ben",
    "de": "deu",
    "el": "ell",
    "en": "eng",
    "es": "spa",
    "et": "est",
    "eu": "eus",
    "fa": "pes",
    "fi": "fin",
    "fr": "fra",
    "he": "heb",
    "hi": "hin",
    "hu": "hun",
    "id": "ind",
    "it": "ita",
    "ja": "jpn",
    "jv": "jav",
    "ka": "kat",
    "kk": "kaz",
    "ko": "kor",
    "lt": "lit",
    "ml": "mal",
    "mr": "mar",
    "nl": "nld",
    "pl": "pol",
    "pt": "por",
    "ro": "ron",
    "ru": "rus",
    "sw": "swh",
    "ta": "tam",
    "te": "tel",
    "th": "tha",
    "tl": "tgl",
    "tr": "tur",
    "uk": "ukr",
    "ur": "urd",
    "vi": "vie",
    "zh": "cmn",
}

# English names: google/xtreme udpos configs ("udpos.German") and TyDiQA id
# prefixes (lowercased: "english-...").
LANGUAGE_NAMES = {
    "af": "Afrikaans",
    "ar": "Arabic",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "jv": "Javanese",
    "ka": "Georgian",
    "kk": "Kazakh",
    "ko": "Korean",
    "ml": "Malayalam",
    "mr": "Marathi",
    "ms": "Malay",
    "my": "Burmese",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "yo": "Yoruba",
    "zh": "Chinese",
    # XTREME-R's ten new languages
    "az": "Azerbaijani",
    "gu": "Gujarati",
    "ht": "Haitian Creole",
    "lt": "Lithuanian",
    "pa": "Punjabi",
    "pl": "Polish",
    "qu": "Quechua",
    "ro": "Romanian",
    "uk": "Ukrainian",
    "wo": "Wolof",
}


def iso639_3(lang: str) -> str:
  """Tatoeba's ISO 639-3 code for an ISO 639-1 code; unknown codes map to themselves."""
  return _ISO639_3.get(lang, lang)


def language_name(lang: str) -> str:
  """English name of a language code; unknown codes map to themselves."""
  return LANGUAGE_NAMES.get(lang, lang)


_SPLITS_TVT = (("train", "train"), ("dev", "validation"), ("test", "test"))


def _anli(round_: int) -> TaskSpec:
  r = f"r{round_}"
  return TaskSpec(
      name=f"anli_{r}",
      format="classification",
      metric="accuracy",
      labels=NLI_LABELS,
      head="nli",
      eval_splits=("dev",),
      max_seq_length=256,
      hub=HubSource("facebook/anli", None, (("train", f"train_{r}"), ("dev", f"dev_{r}"), ("test", f"test_{r}"))),
      tfds=TfdsSource(f"anli/{r}"),
      local=LocalSource("read_anli", tuple((s, f"anli/anli_v*/R{round_}/{s}.jsonl") for s in ("train", "dev", "test"))),
      description=f"Adversarial NLI round {round_} (labels e/n/c mapped to MNLI's names).",
  )


_TASK_LIST = (
    # ---- intermediate tasks (English) ----
    TaskSpec(
        name="mnli",
        format="classification",
        metric="accuracy",
        labels=NLI_LABELS,
        head="nli",
        eval_splits=("dev",),
        max_seq_length=256,
        hub=HubSource(
            "nyu-mll/glue", "mnli", (("train", "train"), ("dev", "validation_matched"), ("test", "test_matched"))
        ),
        tfds=TfdsSource("glue/mnli", (("train", "train"), ("dev", "validation_matched"), ("test", "test_matched"))),
        local=LocalSource(
            "read_glue_mnli",
            (
                ("train", "mnli/MNLI/train.tsv"),
                ("dev", "mnli/MNLI/dev_matched.tsv"),
                ("test", "mnli/MNLI/test_matched.tsv"),
            ),
        ),
        description="MultiNLI (GLUE release); dev = matched; test has no labels.",
    ),
    TaskSpec(
        name="snli",
        format="classification",
        metric="accuracy",
        labels=NLI_LABELS,
        head="nli",
        eval_splits=("dev",),
        max_seq_length=256,
        hub=HubSource("stanfordnlp/snli", None, _SPLITS_TVT),
        tfds=TfdsSource("snli"),
        local=LocalSource(
            "read_snli", tuple((s, f"snli/snli_1.0/snli_1.0_{s}.jsonl") for s in ("train", "dev", "test"))
        ),
        description="SNLI 1.0; pairs without a gold label ('-' / -1) are skipped and counted.",
    ),
    _anli(1),
    _anli(2),
    _anli(3),
    TaskSpec(
        name="qqp",
        format="classification",
        metric="accuracy_f1",
        labels=BINARY_LABELS,
        eval_splits=("dev",),
        max_seq_length=256,
        hub=HubSource("nyu-mll/glue", "qqp", _SPLITS_TVT),
        tfds=TfdsSource("glue/qqp"),
        local=LocalSource("read_glue_qqp", tuple((s, f"qqp/QQP/{s}.tsv") for s in ("train", "dev", "test"))),
        description="Quora Question Pairs (GLUE release); label '1' = duplicate.",
    ),
    TaskSpec(
        name="sst2",
        format="classification",
        metric="accuracy",
        labels=BINARY_LABELS,
        eval_splits=("dev",),
        max_seq_length=256,
        hub=HubSource("nyu-mll/glue", "sst2", _SPLITS_TVT),
        tfds=TfdsSource("glue/sst2"),
        local=LocalSource("read_glue_sst2", tuple((s, f"sst2/SST-2/{s}.tsv") for s in ("train", "dev", "test"))),
        description="SST-2 (GLUE release); label '1' = positive.",
    ),
    TaskSpec(
        name="squad_v1",
        format="span_qa",
        metric="squad_v1",
        eval_splits=("dev",),
        max_seq_length=384,
        hub=HubSource("rajpurkar/squad", None, (("train", "train"), ("dev", "validation"))),
        tfds=TfdsSource("squad/v1.1", (("train", "train"), ("dev", "validation"))),
        local=LocalSource(
            "read_squad_json", (("train", "squad_v1.1/train-v1.1.json"), ("dev", "squad_v1.1/dev-v1.1.json"))
        ),
        description="SQuAD v1.1.",
    ),
    TaskSpec(
        name="squad_v2",
        format="span_qa",
        metric="squad_v2",
        eval_splits=("dev",),
        max_seq_length=384,
        hub=HubSource("rajpurkar/squad_v2", None, (("train", "train"), ("dev", "validation"))),
        tfds=TfdsSource("squad/v2.0", (("train", "train"), ("dev", "validation"))),
        local=LocalSource(
            "read_squad_json", (("train", "squad_v2.0/train-v2.0.json"), ("dev", "squad_v2.0/dev-v2.0.json"))
        ),
        description="SQuAD v2.0 (unanswerable questions; plausible_answers are not kept).",
    ),
    TaskSpec(
        name="hellaswag",
        format="multiple_choice",
        metric="accuracy",
        num_choices=4,
        eval_splits=("dev",),
        max_seq_length=256,
        hub=HubSource("Rowan/hellaswag", None, _SPLITS_TVT),
        tfds=TfdsSource("hellaswag"),
        local=LocalSource(
            "read_hellaswag",
            (
                ("train", "hellaswag/hellaswag_train.jsonl"),
                ("dev", "hellaswag/hellaswag_val.jsonl"),
                ("test", "hellaswag/hellaswag_test.jsonl"),
            ),
        ),
        description="HellaSwag: context = ctx, choices = the 4 endings; test has no labels.",
    ),
    TaskSpec(
        name="commonsenseqa",
        format="multiple_choice",
        metric="accuracy",
        num_choices=5,
        eval_splits=("dev",),
        max_seq_length=256,
        hub=HubSource("tau/commonsense_qa", None, _SPLITS_TVT),
        local=LocalSource(
            "read_commonsenseqa",
            (
                ("train", "commonsenseqa/train_rand_split.jsonl"),
                ("dev", "commonsenseqa/dev_rand_split.jsonl"),
                ("test", "commonsenseqa/test_rand_split_no_answers.jsonl"),
            ),
        ),
        description="CommonsenseQA (random split): context = question stem, answerKey A-E.",
    ),
    TaskSpec(
        name="cosmosqa",
        format="multiple_choice",
        metric="accuracy",
        num_choices=4,
        eval_splits=("dev",),
        max_seq_length=256,
        hub=HubSource("allenai/cosmos_qa", None, _SPLITS_TVT),
        tfds=TfdsSource("cosmos_qa"),
        local=LocalSource(
            "read_cosmosqa",
            (("train", "cosmosqa/train.csv"), ("dev", "cosmosqa/valid.csv"), ("test", "cosmosqa/test.jsonl")),
        ),
        description="Cosmos QA: context = 'context question', choices answer0..3.",
    ),
    TaskSpec(
        name="ccg",
        format="tagging",
        metric="token_accuracy",
        eval_splits=("dev",),
        max_seq_length=256,
        local=LocalSource("read_ccg", tuple((s, f"ccg/ccg.{s}.tsv") for s in ("train", "dev", "test"))),
        description=(
            "CCG supertagging on CCGbank (LDC2005T13, LDC-licensed, not downloadable). "
            "Convert it to ccg/ccg.{train,dev,test}.tsv: one 'word<TAB>supertag' per "
            "line, a blank line between sentences (WSJ sections 02-21 / 00 / 23). "
            "Labels are an open set taken from the training data."
        ),
    ),
    TaskSpec(
        name="mlm",
        format="mlm",
        metric="mlm_accuracy",
        languages=XTREME_LANGUAGES,
        eval_splits=("dev",),
        max_seq_length=256,
        local=LocalSource("read_text_lines", (("train", "mlm/{lang}/train.txt"), ("dev", "mlm/{lang}/dev.txt"))),
        description=(
            "Masked LM on plain text, one example per non-empty line; any language "
            "code works (pass languages= to get_task)."
        ),
    ),
    TaskSpec(
        name="translate_train_squad",
        format="span_qa",
        metric="squad_v1",
        languages=tuple(l for l in XQUAD_LANGUAGES if l != "en"),
        head="squad_v1",
        eval_splits=("dev",),
        max_seq_length=384,
        tfds=TfdsSource("xquad/{lang}", (("train", "translate-train"), ("dev", "translate-dev"))),
        local=LocalSource(
            "read_squad_json",
            (
                ("train", "xtreme_translations/SQuAD/translate-train/" "squad.translate.train.en-{lang}.json"),
                ("dev", "xtreme_translations/SQuAD/translate-dev/" "squad.translate.dev.en-{lang}.json"),
            ),
        ),
        description="XTREME's machine-translated SQuAD v1.1 (translate-train), per language.",
    ),
    TaskSpec(
        name="translate_train_mnli",
        format="classification",
        metric="accuracy",
        labels=NLI_LABELS,
        languages=tuple(l for l in XNLI_LANGUAGES if l != "en"),
        head="nli",
        eval_splits=(),
        max_seq_length=256,
        tfds=TfdsSource("xtreme_xnli", (("train", "train"),)),
        local=LocalSource("read_xnli_mt", (("train", "xnli/XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv"),)),
        description=(
            "MNLI train machine-translated into the XNLI languages (XNLI-MT-1.0); "
            "train only ('contradictory' read as 'contradiction')."
        ),
    ),
    TaskSpec(
        name="copa",
        format="multiple_choice",
        metric="accuracy",
        num_choices=2,
        eval_splits=("dev",),
        max_seq_length=128,
        hub=HubSource("aps/super_glue", "copa", _SPLITS_TVT),
        tfds=TfdsSource("super_glue/copa"),
        local=LocalSource(
            "read_copa",
            (("train", "copa/COPA/train.jsonl"), ("dev", "copa/COPA/val.jsonl"), ("test", "copa/COPA/test.jsonl")),
        ),
        description="English COPA (SuperGLUE jsonl); the training task of xcopa.",
    ),
    TaskSpec(
        name="siqa",
        format="multiple_choice",
        metric="accuracy",
        num_choices=3,
        eval_splits=("dev",),
        max_seq_length=128,
        local=LocalSource(
            "read_siqa",
            (
                ("train", "siqa/socialIQa_v1.4_trn.jsonl"),
                ("dev", "siqa/socialIQa_v1.4_dev.jsonl"),
                ("test", "siqa/socialIQa_v1.4_tst.jsonl"),
            ),
        ),
        description=(
            "Social IQa v1.4 (XTREME-R's download): context = 'context question', answerA-C; "
            "labels from `correct` (A-C) or a sibling <name>-labels.lst (1-3). XTREME-R's "
            "first training step for xcopa (recipe siqa_copa)."
        ),
    ),
    TaskSpec(
        name="mewslix_wikipedia",
        format="entity_retrieval",
        metric="mewslix_map",
        eval_splits=(),
        max_seq_length=64,
        local=LocalSource(
            "read_mewslix_pairs",
            (("train", "mewslix/wikipedia_pairs-train.jsonl"), ("dev", "mewslix/wikipedia_pairs-dev.jsonl")),
        ),
        description=(
            "Mewsli-X's English Wikipedia mention-entity pairs (train/dev), the training "
            "task of mewslix: (mention in its sentence, entity description) pairs."
        ),
    ),
    TaskSpec(
        name="squad_retrieval",
        format="retrieval_qa",
        metric="lareqa_map",
        eval_splits=(),
        max_seq_length=256,
        local=LocalSource("read_squad_retrieval", (("train", "squad_v1.1/train-v1.1.json"),)),
        description=(
            "English SQuAD v1.1 as retrieval (XTREME-R's training task of lareqa): each question "
            "against its answer sentence, encoded with its paragraph; sentences from the "
            "SQuAD-tuned breaker (data/sentence_breaks.py)."
        ),
    ),
    # ---- XTREME targets ----
    TaskSpec(
        name="xnli",
        format="classification",
        metric="accuracy",
        labels=NLI_LABELS,
        languages=XNLI_LANGUAGES,
        train_task="mnli",
        max_seq_length=256,
        category="classification",
        hub=HubSource("facebook/xnli", "{lang}", (("dev", "validation"), ("test", "test"))),
        tfds=TfdsSource("xnli", (("dev", "validation"), ("test", "test"))),
        local=LocalSource(
            "read_xnli", (("dev", "xnli/XNLI-1.0/xnli.dev.tsv"), ("test", "xnli/XNLI-1.0/xnli.test.tsv"))
        ),
        description="XNLI 1.0: one file for all languages, filtered by the language column.",
    ),
    TaskSpec(
        name="pawsx",
        format="classification",
        metric="accuracy",
        labels=BINARY_LABELS,
        languages=PAWSX_LANGUAGES,
        max_seq_length=256,
        category="classification",
        hub=HubSource("google-research-datasets/paws-x", "{lang}", _SPLITS_TVT),
        tfds=TfdsSource("paws_x_wiki/{lang}"),
        local=LocalSource(
            "read_pawsx",
            (
                ("train", "pawsx/x-final/{lang}/train.tsv"),
                ("dev", "pawsx/x-final/{lang}/dev_2k.tsv"),
                ("test", "pawsx/x-final/{lang}/test_2k.tsv"),
            ),
        ),
        description="PAWS-X; English trains on PAWS-Wiki train.tsv; label '1' = paraphrase.",
    ),
    TaskSpec(
        name="udpos",
        format="tagging",
        metric="seqeval_f1",
        labels=UPOS_TAGS,
        languages=UDPOS_LANGUAGES,
        max_seq_length=256,
        category="structured",
        hub=HubSource("google/xtreme", "udpos.{lang_name}", _SPLITS_TVT),
        tfds=TfdsSource("xtreme_pos/xtreme_pos_{lang}", (("train", "train"), ("dev", "dev"), ("test", "test"))),
        local=LocalSource(
            "read_conllu", tuple((s, f"udpos/UD_*/{{lang}}_*-ud-{s}.conllu") for s in ("train", "dev", "test"))
        ),
        description=(
            "UD v2.5 UPOS, all treebanks of a language merged (sorted by path); " "kk, th, tl, yo have no dev set."
        ),
    ),
    TaskSpec(
        name="panx",
        format="tagging",
        metric="seqeval_f1",
        labels=PANX_TAGS,
        languages=PANX_LANGUAGES,
        max_seq_length=256,
        category="structured",
        hub=HubSource("google/xtreme", "PAN-X.{lang}", _SPLITS_TVT),
        tfds=TfdsSource("wikiann/{lang}"),
        local=LocalSource(
            "read_panx", tuple((s, f"panx/xtreme_format/{s}-{{lang}}.tsv") for s in ("train", "dev", "test"))
        ),
        description=(
            "PAN-X / WikiANN (Rahimi splits) in XTREME's preprocessed TSV; XTREME's "
            "test files carry no tags (read as labels=None)."
        ),
    ),
    TaskSpec(
        name="xquad",
        format="span_qa",
        metric="squad_v1",
        languages=XQUAD_LANGUAGES,
        train_task="squad_v1",
        eval_splits=("test",),
        max_seq_length=384,
        category="qa",
        hub=HubSource("google/xquad", "xquad.{lang}", (("test", "validation"),)),
        tfds=TfdsSource("xquad/{lang}", (("test", "test"),)),
        local=LocalSource("read_squad_json", (("test", "xquad/xquad.{lang}.json"),)),
        description="XQuAD (test only; 1190 questions per language, parallel).",
    ),
    TaskSpec(
        name="mlqa",
        format="span_qa",
        metric="mlqa",
        languages=MLQA_LANGUAGES,
        train_task="squad_v1",
        max_seq_length=384,
        category="qa",
        hub=HubSource("facebook/mlqa", "mlqa.{lang}.{lang}", (("dev", "validation"), ("test", "test"))),
        tfds=TfdsSource("mlqa/{lang}", (("dev", "validation"), ("test", "test"))),
        local=LocalSource(
            "read_squad_json",
            tuple((s, f"mlqa/MLQA_V1/{s}/{s}-context-{{lang}}-question-{{lang}}.json") for s in ("dev", "test")),
        ),
        description="MLQA, same-language context and question only.",
    ),
    TaskSpec(
        name="tydiqa",
        format="span_qa",
        metric="squad_v1",
        languages=TYDIQA_LANGUAGES,
        eval_splits=("test",),
        max_seq_length=384,
        category="qa",
        hub=HubSource(
            "google-research-datasets/tydiqa", "secondary_task", (("train", "train"), ("test", "validation"))
        ),
        tfds=TfdsSource("tydi_qa/goldp", (("train", "train"), ("test", "validation"))),
        local=LocalSource(
            "read_tydiqa_goldp",
            (
                ("train", "tydiqa_goldp/tydiqa-goldp-v1.1-train.json"),
                ("test", "tydiqa_goldp/tydiqa-goldp-v1.1-dev.json"),
            ),
        ),
        description=(
            "TyDiQA-GoldP; rows are selected by id prefix ('english-', 'arabic-', ...), "
            "so English training uses the English ids only. test = official GoldP dev."
        ),
    ),
    TaskSpec(
        name="bucc2018",
        format="retrieval",
        metric="bucc_f1",
        languages=BUCC_LANGUAGES,
        max_seq_length=512,
        category="retrieval",
        local=LocalSource(
            "read_bucc",
            (
                ("dev", "bucc2018/{lang}-en/{lang}-en.sample.{lang}"),
                ("test", "bucc2018/{lang}-en/{lang}-en.training.{lang}"),
            ),
        ),
        description=(
            "BUCC 2018 bitext mining (dev = 'sample', test = 'training', as XTREME). "
            "Reads {lang}-en.<split>.{lang}, .en and .gold from the official archives."
        ),
    ),
    TaskSpec(
        name="tatoeba",
        format="retrieval",
        metric="tatoeba_accuracy",
        languages=TATOEBA_LANGUAGES,
        eval_splits=("test",),
        max_seq_length=512,
        category="retrieval",
        hub=HubSource("google/xtreme", "tatoeba.{lang3}", (("test", "validation"),)),
        tfds=TfdsSource("tatoeba/tatoeba_{lang}", (("test", "train"),)),
        local=LocalSource("read_tatoeba", (("test", "tatoeba/tatoeba.{lang3}-eng.{lang3}"),)),
        description="Tatoeba (LASER v1): line i of tatoeba.xxx-eng.xxx pairs with line i of .eng.",
    ),
    TaskSpec(
        name="xcopa",
        format="multiple_choice",
        metric="accuracy",
        num_choices=2,
        languages=XCOPA_LANGUAGES,
        train_task="copa",
        max_seq_length=128,
        category="classification",
        hub=HubSource("cambridgeltl/xcopa", "{lang}", (("dev", "validation"), ("test", "test"))),
        local=LocalSource(
            "read_copa",
            (("dev", "xcopa/data/{lang}/val.{lang}.jsonl"), ("test", "xcopa/data/{lang}/test.{lang}.jsonl")),
        ),
        description=(
            "XCOPA (XTREME-R); trained on English COPA (task 'copa'), or as XTREME-R on SIQA "
            "then COPA (train_recipe('xcopa', 'xtreme-r'))."
        ),
    ),
    # ---- XTREME-R's language-agnostic retrieval targets ----
    TaskSpec(
        name="lareqa",
        format="retrieval_qa",
        metric="lareqa_map",
        languages=LAREQA_LANGUAGES,
        eval_splits=("test",),
        train_task="squad_retrieval",
        max_seq_length=256,
        category="retrieval",
        local=LocalSource("read_xquad_r", (("test", "lareqa/xquad-r/{lang}.json"),)),
        description=(
            "LAReQA on XQuAD-R: a language's questions against the candidate sentences of all "
            "11 languages (sentence + paragraph, 256 tokens; questions 96), mAP@20; the full "
            "set has 13,090 questions and 13,014 candidates; trained on squad_retrieval."
        ),
    ),
    TaskSpec(
        name="mewslix",
        format="entity_retrieval",
        metric="mewslix_map",
        languages=MEWSLIX_LANGUAGES,
        train_task="mewslix_wikipedia",
        max_seq_length=64,
        category="retrieval",
        local=LocalSource(
            "read_mewslix",
            (("dev", "mewslix/wikinews_mentions-dev.jsonl"), ("test", "mewslix/wikinews_mentions-test.jsonl")),
        ),
        description=(
            "Mewsli-X entity linking as retrieval: WikiNews mentions in 11 languages against "
            "the English Wikidata entity descriptions of candidate_set_entities.jsonl; mAP@20 "
            "(= MRR@20: one gold entity), the mean over languages."
        ),
    ),
)

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _TASK_LIST}

INTERMEDIATE_TASKS = (
    "mnli",
    "snli",
    "anli_r1",
    "anli_r2",
    "anli_r3",
    "qqp",
    "sst2",
    "squad_v1",
    "squad_v2",
    "hellaswag",
    "commonsenseqa",
    "cosmosqa",
    "ccg",
    "siqa",
)
TARGET_TASKS = (
    "xnli",
    "pawsx",
    "udpos",
    "panx",
    "xquad",
    "mlqa",
    "tydiqa",
    "bucc2018",
    "tatoeba",
    "xcopa",
    "lareqa",
    "mewslix",
)
XTREME_TASKS = TARGET_TASKS[:9]
XTREME_R_TASKS = ("xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa")

# Each benchmark's tasks and their test languages.
BENCHMARKS: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme": {t: TASKS[t].languages for t in XTREME_TASKS},
    "xtreme-r": {
        "xnli": XNLI_LANGUAGES,
        "xcopa": XCOPA_LANGUAGES,
        "udpos": XTREME_R_UDPOS_LANGUAGES,
        "panx": XTREME_R_PANX_LANGUAGES,
        "xquad": XTREME_R_XQUAD_LANGUAGES,
        "mlqa": MLQA_LANGUAGES,
        "tydiqa": TYDIQA_LANGUAGES,
        "tatoeba": XTREME_R_TATOEBA_LANGUAGES,
        "mewslix": MEWSLIX_LANGUAGES,
        "lareqa": LAREQA_LANGUAGES,
    },
}
DEFAULT_BENCHMARK = "xtreme"

# English training sequences of a target: each task fine-tuned in turn, continuing from the
# last; the last one is the target's train_task (or the target itself).
TRAIN_RECIPES: dict[str, dict[str, tuple[str, ...]]] = {
    "xcopa": {"copa": ("copa",), "siqa_copa": ("siqa", "copa")},
}
BENCHMARK_RECIPES: dict[str, dict[str, str]] = {"xtreme": {}, "xtreme-r": {"xcopa": "siqa_copa"}}

_ANLI_PLUS = ("snli", "mnli", "anli_r1", "anli_r2", "anli_r3")
# The paper's nine intermediate tasks, SQuAD as v1.1 (as jiant's X-STILTs guide).
_ALL_INTERMEDIATE = _ANLI_PLUS + ("ccg", "commonsenseqa", "cosmosqa", "hellaswag", "qqp", "squad_v1", "sst2")
TASK_GROUPS: dict[str, tuple[str, ...]] = {
    "anli_plus": _ANLI_PLUS,
    "all_intermediate": _ALL_INTERMEDIATE,
    # The same without CCG, whose data is not public.
    "all_intermediate_public": tuple(t for t in _ALL_INTERMEDIATE if t != "ccg"),
}

# Said when a task's local files are missing, after the path.
MISSING_DATA_HINTS = {
    "ccg": (
        "CCGbank is LDC-licensed (LDC2005T13) and cannot be downloaded; convert "
        "it to 'word<TAB>supertag' lines (see the ccg task description)"
    ),
    "bucc2018": (
        "get bucc2018-{lang}-en.{{sample,training}}-gold.tar.bz2 from "
        "https://comparable.limsi.fr/bucc2018/ and unpack into data_dir"
    ),
}


def _unknown(kind: str, name: str, known: Iterable[str]) -> ConfigError:
  known = sorted(known)
  close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
  hint = f"did you mean {', '.join(close)}? " if close else ""
  return ConfigError(f"unknown {kind} '{name}' ({hint}known: {', '.join(known)})")


def check_benchmark(benchmark: str) -> str:
  """`benchmark` if it is "xtreme" or "xtreme-r"; else a ConfigError naming the choices."""
  if benchmark not in BENCHMARKS:
    raise _unknown("benchmark", benchmark, BENCHMARKS)
  return benchmark


def benchmark_tasks(benchmark: str = DEFAULT_BENCHMARK) -> tuple[str, ...]:
  """The target tasks of a benchmark, in its order."""
  return tuple(BENCHMARKS[check_benchmark(benchmark)])


def benchmark_languages(task: str, benchmark: str = DEFAULT_BENCHMARK) -> tuple[str, ...]:
  """A task's test languages in `benchmark`; the registry's own for tasks outside it."""
  if task not in TASKS:
    raise _unknown("task", task, TASKS)
  return BENCHMARKS[check_benchmark(benchmark)].get(task, TASKS[task].languages)


def train_recipe(task: str, benchmark: str = DEFAULT_BENCHMARK, recipe: Optional[str] = None) -> tuple[str, ...]:
  """The English tasks that train target `task`, in order: a named recipe of
  TRAIN_RECIPES, else the benchmark's choice, else (train_task or the task itself,)."""
  if task not in TASKS:
    raise _unknown("task", task, TASKS)
  recipes = TRAIN_RECIPES.get(task, {})
  if recipe is None:
    recipe = BENCHMARK_RECIPES[check_benchmark(benchmark)].get(task)
  if recipe is None:
    return (TASKS[task].train_task or task,)
  if recipe not in recipes:
    raise _unknown(f"training recipe of {task}", recipe, recipes)
  return recipes[recipe]


def get_task(name: str, languages: Optional[Iterable[str]] = None, benchmark: Optional[str] = None) -> TaskSpec:
  """The spec of task `name`, with its languages replaced when `languages` is given, or by
  `benchmark`'s test languages of that task (e.g. benchmark="xtreme-r")."""
  if name not in TASKS:
    raise _unknown("task", name, TASKS)
  spec = TASKS[name]
  if languages is not None and benchmark is not None:
    raise ConfigError(f"task {name}: give languages or benchmark, not both")
  if benchmark is not None:
    languages = benchmark_languages(name, benchmark)
    if languages == spec.languages:
      return spec
  if languages is None:
    return spec
  if isinstance(languages, str):
    raise ConfigError(f"task {name}: languages must be a list of codes, not the string " f"'{languages}'")
  languages = tuple(languages)
  if not languages or not all(isinstance(l, str) and l for l in languages):
    raise ConfigError(f"task {name}: languages must be non-empty codes, got {languages}")
  return dataclasses.replace(spec, languages=languages)


def expand_tasks(name: str) -> tuple[str, ...]:
  """The task names of a group, or (name,) for a single task."""
  if name in TASK_GROUPS:
    return TASK_GROUPS[name]
  if name in TASKS:
    return (name,)
  raise _unknown("task or group", name, list(TASKS) + list(TASK_GROUPS))
