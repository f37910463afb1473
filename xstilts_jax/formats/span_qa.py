"""Extractive QA (SQuAD, XQuAD, MLQA, TyDiQA-GoldP): start and end logits over the context."""

from xstilts_jax.data import features as F
from xstilts_jax.evaluation import evaluate, score
from xstilts_jax.formats.base import Format

FORMAT = Format(
    name="span_qa",
    head_kind="span",
    # Span QA keeps its own defaults (doc stride 128, query length 64).
    features=lambda spec, examples, tokenizer, length: F.span_qa_features(examples, tokenizer, length),
    train_keys=("input_ids", "attention_mask", "start_positions", "end_positions"),
    trainable=lambda examples, feats: sum(1 for ex in examples if ex.answers or ex.is_impossible),
    nothing_to_learn="no question with an answer",
    text=lambda ex: f"{ex.question} {ex.context}",
    evaluate=evaluate.evaluate_span_qa,
    write=evaluate.answers_text,
    suffix="json",
    score=score.score_answers,
    # `<s> question </s></s> context </s>` with XLM-R's 4 special tokens and one context token
    shortest_seq_length=F.SPAN_QA_MAX_QUERY_LENGTH + 4 + 1,
    shortest_why=f"its windows put a question of up to {F.SPAN_QA_MAX_QUERY_LENGTH} tokens and 4 special tokens "
    "before the context, which needs at least one",
)
