"""`inversa screen`: the safety screening before inversion, from an answers file or question by question.

The JSON output is a contract: ``{"decision", "findings": [{"item", "class", "reason", "source", ...}],
"screening_version", ...}``. Any completed screening exits 0 whatever the decision; bad input raises
InputError (one line, exit status 2 from the main entry point).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.panel import Panel
from rich.prompt import Prompt
from rich.table import Table
from rich.text import Text

from inversa.cli.common import InputError
from inversa.safety import (
    Decision,
    FindingClass,
    ItemType,
    ScreeningAnswerError,
    ScreeningResult,
    load_questionnaire,
    parse_answer,
    screen,
    template,
)
from inversa.safety.screening import VERSION_KEY, AnswerValue

__all__ = ["ask_answers", "screen_cmd"]


class ScreenFormat(StrEnum):
    table = "table"
    json = "json"


DECISION_WORDS = {
    Decision.OK: "OK: nothing in your answers rules inversion out. Table makers still ask for a licensed "
    "physician's approval before you start.",
    Decision.CAUTION: "CAUTION: inversion is allowed with the warnings below; watch for them and come up at "
    "the first sign of trouble.",
    Decision.NEEDS_CLEARANCE: "NEEDS CLEARANCE: do not invert until a clinician has documented clearance "
    "for each item marked 'clear'.",
    Decision.BLOCKED: "BLOCKED: do not invert.",
}
_STYLE = {
    Decision.OK: "bold green",
    Decision.CAUTION: "bold yellow",
    Decision.NEEDS_CLEARANCE: "bold yellow",
    Decision.BLOCKED: "bold red",
}


def _read_answers(path: Path) -> dict[str, Any]:
    """The answers file as a JSON object, or an InputError naming --answers."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--answers: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"--answers: {path} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--answers: {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"--answers: {path} must hold a JSON object of item: answer")
    return data


def _prompt_hint(key: str) -> str:
    it = load_questionnaire().item(key)
    if it.type is ItemType.YES_NO:
        return "yes/no"
    if it.type is ItemType.CHOICE:
        return f"1-{len(it.choices)} or the word"
    return f"{it.unit}, empty if none" if it.nullable else it.unit


def ask_answers() -> dict[str, AnswerValue]:
    """Ask every question on the terminal (prompts on stderr, so stdout stays clean for JSON); an
    invalid answer is explained and asked again. End of input aborts."""
    q = load_questionnaire()
    ask = Console(stderr=True, highlight=False, soft_wrap=True)
    answers: dict[str, AnswerValue] = {}
    ask.print(Text(f"{q.title} (version {q.version}): {len(q.items)} questions."))
    for n, it in enumerate(q.items, start=1):
        ask.print(Text(f"\n{n}/{len(q.items)}. {it.question}"))
        for i, choice in enumerate(it.choices, start=1):
            ask.print(Text(f"   {i}) {choice.value}: {choice.label}"))
        while True:
            try:
                text = Prompt.ask(
                    Text(f"   answer ({_prompt_hint(it.key)})"), console=ask, show_default=False
                )
            except EOFError:
                raise typer.Abort() from None
            try:
                answers[it.key] = parse_answer(it.key, text, given=answers)
                break
            except ScreeningAnswerError as exc:
                ask.print(Text(f"   {exc}; please answer again."))
    return {VERSION_KEY: q.version, **answers}


def _print_table(result: ScreeningResult, console: Console) -> None:
    """The result for a person: red flags first and prominent, then the decision, findings and dates."""
    if result.seek_care_now:
        console.print(
            Panel("\n".join(result.seek_care_now), title="SEEK CARE NOW", style="bold red", expand=False)
        )
    console.print(f"[{_STYLE[result.decision]}]{DECISION_WORDS[result.decision]}[/]")
    if result.findings:
        table = Table(title="Findings")
        for col in ("item", "class", "reason", "source"):
            table.add_column(col)
        for f in result.findings:
            cls = f.finding_class.value
            if f.effective_class is not None:
                verb = "cleared" if f.effective_class is FindingClass.CLEARED else "set to caution"
                cls += f" ({verb} by {f.cleared_by}, {f.cleared_at:%Y-%m-%d}: {f.clearance_reason})"
            table.add_row(f.item, cls, f.reason, f.source)
        console.print(table)
    console.print(
        f"Screening {result.screening_version} of {result.screened_on}; expires on {result.expires_on}. "
        "Screen again sooner if any answer changes; blood pressure is checked again before every session."
    )


def _emit(text_or_result: str | ScreeningResult, out: Path | None, output_format: ScreenFormat) -> None:
    """Write JSON text, or a result as a table or JSON, to --out or stdout."""
    if isinstance(text_or_result, ScreeningResult) and output_format is ScreenFormat.table:
        if out is None:
            _print_table(text_or_result, Console() if sys.stdout.isatty() else Console(width=140))
            return
        with _open_out(out) as fh:
            _print_table(text_or_result, Console(file=fh, width=140, color_system=None))
        return
    text = (
        json.dumps(text_or_result.to_dict()) + "\n"
        if isinstance(text_or_result, ScreeningResult)
        else text_or_result
    )
    if out is None:
        sys.stdout.write(text)
        return
    with _open_out(out) as fh:
        fh.write(text)


def _open_out(out: Path) -> TextIO:
    try:
        return out.open("w", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out: cannot write {out}: {exc.strerror}") from None


def screen_cmd(
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help="JSON file of answers (see --print-template); without it, ask each"),
    ] = None,
    output_format: Annotated[
        ScreenFormat, typer.Option("--format", help="table (for people) or json (a contract)")
    ] = ScreenFormat.table,
    print_template: Annotated[
        bool, typer.Option("--print-template", help="write an answers file to fill in, then stop")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="write to this file instead of stdout")] = None,
) -> None:
    """Safety screening before inversion: decision (ok, caution, needs_clearance, blocked) and findings."""
    if print_template:
        if answers is not None:
            raise InputError("--print-template: give either --print-template or --answers, not both")
        _emit(json.dumps(template(), indent=2) + "\n", out, output_format)
        return
    given = _read_answers(answers) if answers is not None else ask_answers()
    try:
        result = screen(given)
    except ScreeningAnswerError as exc:
        raise InputError(f"{'--answers: ' if answers is not None else ''}{exc}") from None
    _emit(result, out, output_format)
