"""Patient-reported outcomes: scoring of pain and back-pain questionnaires, and meaningful change."""

from inversa.outcomes.questionnaires import (
    INSTRUMENTS,
    ChangeResult,
    InvalidAnswerError,
    LicenceError,
    QuestionnaireError,
    ScoreResult,
    meaningful_change,
    parse_answers_json,
    score,
)

__all__ = [
    "INSTRUMENTS",
    "ChangeResult",
    "InvalidAnswerError",
    "LicenceError",
    "QuestionnaireError",
    "ScoreResult",
    "meaningful_change",
    "parse_answers_json",
    "score",
]
