"""How the Compare page draws a run of variants and a comparison (core.variants, core.compare): the settings
editor, each cell's progress, the sides with their winner marks, the answers and what changed in them, the
pictures with their prompts, and the steps aligned across sides."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pandas as pd
import streamlit as st

from core import agents, scenarios
from core.compare import Comparison, Side
from core.config import Settings
from core.costs import money
from core.hosted import MAX_USER_TEXT_CHARS
from core.scenarios import ChoiceOption, DocumentOption, IntOption, TextOption
from core.variants import Cell, Setting
from ui import visitor
from ui.sidebar import HOSTED_MODELS
from ui.text import labelled, plain, safe_markdown

DIFF_STYLE = {"added": ":green-background[{}]", "removed": ":red-background[~~{}~~]", "same": "{}"}
MARKS = {
    "cheapest": ":material/savings: cheapest",
    "fastest": ":material/bolt: fastest",
    "most tokens": ":material/data_usage: most tokens",
}


def runtime_editor(key: str, base: Setting, scenario: scenarios.Scenario) -> str:
    """The setting's agent runtime, where more than one can run the scenario (core.agents.runtimes_for)."""
    runtimes = agents.runtimes_for(scenario)
    runtime = agents.runtime_name(scenario, base.runtime)
    if len(runtimes) < 2:
        return runtime
    return str(
        st.selectbox(
            "Runtime",
            runtimes,
            key=f"{key}_runtime",
            index=runtimes.index(runtime) if runtime in runtimes else 0,
            format_func=labelled(agents.RUNTIME_LABELS),
            help="The agent framework that runs this setting's team: AutoGen or Microsoft Agent Framework.",
        )
    )


def setting_editor(prefix: str, number: int, base: Setting, scenario: scenarios.Scenario, settings: Settings) -> Setting:
    """One setting's widgets, prefilled with the origin's: the provider (the sidebar's, or the offline demo), its
    models, and the scenario's options (not its document: every variant works on the same one)."""
    key = f"{prefix}_{number}"
    runtime = runtime_editor(key, base, scenario)
    providers = list(dict.fromkeys([settings.provider, "demo"]))
    provider = st.selectbox(
        "Provider",
        providers,
        key=f"{key}_provider",
        index=providers.index(base.provider) if base.provider in providers else 0,
        help="The sidebar's provider (its key and address) or the offline demo.",
    )
    models = {"chat_model": base.chat_model, "vision_model": base.vision_model, "image_model": base.image_model}
    if provider == "demo":
        demo = Settings.for_provider("demo")
        models = {"chat_model": demo.chat_model, "vision_model": demo.vision_model, "image_model": demo.image_model}
        st.caption("Offline demo models: no key, no cost.")
    elif visitor.uses_owner_key():  # models the demo's cost bound knows (as the sidebar)
        for field, label in (("chat_model", "Chat model"), ("vision_model", "Vision model")):
            current = models[field] if models[field] in HOSTED_MODELS else HOSTED_MODELS[0]
            models[field] = st.selectbox(label, HOSTED_MODELS, index=HOSTED_MODELS.index(current), key=f"{key}_{field}")
    else:
        for field, label in (("chat_model", "Chat model"), ("vision_model", "Vision model"), ("image_model", "Image model")):
            models[field] = st.text_input(label, value=models[field], key=f"{key}_{field}").strip()
    options = dict(base.options)
    defaults = scenario.option_defaults(settings)
    for option in scenario.options:
        value = options.get(option.key, defaults.get(option.key))
        widget = f"{key}_{option.key}"
        if isinstance(option, IntOption):
            options[option.key] = st.slider(
                option.label, option.min, option.max, value=int(value or option.default), key=widget, help=option.help or None
            )
        elif isinstance(option, TextOption):
            options[option.key] = st.text_area(
                option.label,
                value=str(value or ""),
                key=widget,
                height=option.height,
                help=option.help or None,  # a hosted demo's limit, as in the chat
                max_chars=MAX_USER_TEXT_CHARS if settings.hosted is not None else None,
            )
        elif isinstance(option, ChoiceOption):
            choices = list(option.choices)
            options[option.key] = st.selectbox(
                option.label,
                choices,
                format_func=labelled(option.choices),
                key=widget,
                index=choices.index(value) if value in choices else 0,
                help=option.help or None,
            )
        elif isinstance(option, DocumentOption):
            continue
    return Setting(provider=provider, options=options, runtime=runtime, **models)


def progress(cells: Sequence[Cell]) -> None:
    """Each cell's line while a run of variants works: its label, what its team is doing, tokens and cost so far."""
    for cell in cells:
        event = cell.last_progress
        if cell.outcome is not None:
            icon, state = (
                (":material/check_circle:", "done")
                if cell.outcome.status == "ok"
                else (":material/pause_circle:", cell.outcome.status)
                if cell.outcome.saved
                else (":material/error:", "failed")
            )
            line = f"{state}" + (f": {plain(cell.outcome.error)}" if cell.outcome.error else "")
        elif not cell.started:
            icon, line = ":material/schedule:", "waiting for a free slot"
        else:
            icon = ":material/progress_activity:"
            line = plain(event.text if event is not None and event.text else "starting")
        if event is not None and event.tokens:
            cost = "cost unknown" if event.cost_usd is None else f"\\${event.cost_usd:.4f}"
            line += f" · {event.tokens:,} tokens, {cost}"
        st.markdown(f"{icon} **{plain(cell.label)}** · {line}")


def side_header(index: int, side: Side, comparison: Comparison) -> None:
    marks = [MARKS[name] for name, won in comparison.winners.items() if index in won]
    st.markdown(f"**{index + 1}. {plain(side.label)}**")
    st.caption(
        plain(
            f"{side.scenario or 'trace'}{f' · turn {side.turn}' if side.turn else ''} · {side.status} · "
            f"{side.tokens:,} tokens · {money(side.cost_usd) or 'not priced'} · "
            f"{(side.latency_ms or 0) / 1000:.2f} s"
        )
    )
    if marks:
        st.markdown(" ".join(f":green-badge[{m}]" for m in marks))


def answers(comparison: Comparison, diff: Callable[[str, str], Sequence[tuple[str, str]]]) -> None:
    """Each side's answer as it was shown in the chat, and below, what changed against the first side's."""
    columns = st.columns(len(comparison.sides))
    first = comparison.sides[0].answer
    for index, (column, side) in enumerate(zip(columns, comparison.sides)):
        with column:
            st.markdown(f"**{index + 1}. {plain(side.label)}**")
            with st.container(height=320 if len(side.answer) > 800 else "content"):
                st.markdown(safe_markdown(side.answer) or "*(no answer)*")
            if index:
                with st.expander("What changed from 1", icon=":material/difference:"):
                    runs = diff(first, side.answer)
                    if all(kind == "same" for kind, _ in runs):
                        st.caption("The same answer, word for word.")
                    else:
                        st.markdown(" ".join(DIFF_STYLE[kind].format(plain(words)) for kind, words in runs))


def pictures(comparison: Comparison, load: Callable[[str, str], bytes | None]) -> None:
    """Each side's pictures in the order they were drawn, with the prompt each was drawn from."""
    if not any(side.pictures for side in comparison.sides):
        return
    st.subheader("Pictures")
    columns = st.columns(len(comparison.sides))
    for index, (column, side) in enumerate(zip(columns, comparison.sides)):
        with column:
            st.markdown(f"**{index + 1}. {plain(side.label)}**")
            if not side.pictures:
                st.caption("No pictures.")
            for number, picture in enumerate(side.pictures):
                png = load(picture.conversation_id, picture.image_id) if picture.conversation_id else None
                if png:
                    st.image(png, width=280)
                else:
                    st.caption(f"Picture #{number} is not in the store.")
                st.caption(plain(f"#{number} · {picture.prompt}"))


def steps_table(comparison: Comparison) -> pd.DataFrame:
    """The aligned steps for people: one row per step, per side its tokens, cost, time and status; a step a side
    did not run says so; the totals last (MLflow's own for each trace)."""
    rows: list[dict[str, Any]] = []
    for row in comparison.rows:
        line: dict[str, Any] = {"step": row.name + (f" #{row.occurrence}" if row.occurrence > 1 else "")}
        for index, cell in enumerate(row.cells, 1):
            if cell is None:
                line |= {f"{index} tokens": "not run", f"{index} cost": "", f"{index} ms": "", f"{index} status": ""}
            else:
                line |= {
                    f"{index} tokens": f"{cell.tokens:,}",
                    f"{index} cost": money(cell.cost_usd),
                    f"{index} ms": "" if cell.latency_ms is None else f"{cell.latency_ms:,.0f}",
                    f"{index} status": cell.status + (f": {cell.error[:80]}" if cell.error else ""),
                }
        rows.append(line)
    total: dict[str, Any] = {"step": "total"}
    for index, side in enumerate(comparison.sides, 1):
        total |= {
            f"{index} tokens": f"{side.tokens:,}",
            f"{index} cost": money(side.cost_usd) or "not priced",
            f"{index} ms": "" if side.latency_ms is None else f"{side.latency_ms:,.0f}",
            f"{index} status": side.status,
        }
    rows.append(total)
    return pd.DataFrame(rows)
