"""Remove each reliability safeguard once and run the tests that guard it: every one must fail without it
(issue 7: a test that cannot fail proves nothing). Works on a copy of the working tree, one change at a time;
first checks that the same tests pass unchanged. Writes docs/SAFEGUARDS.md. About 15 minutes on 2 cores.

Each safeguard names the function it lives in (issue 13: found by name, so a move or an edit elsewhere in the
file cannot make its code match somewhere else); its code must be inside that function exactly once.

    python scripts/check_safeguards.py            # all
    python scripts/check_safeguards.py secrets    # those whose area or name contains "secrets"
"""

from __future__ import annotations

import ast
import difflib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = "tests/test_reliability_models.py"
INPUT = "tests/test_reliability_input.py"
STORE = "tests/test_reliability_store.py"
SECRETS = "tests/test_reliability_secrets.py"
REDACT = "tests/test_redact.py"
CONTRACT = "tests/test_tracing_contract.py"
MODULE = "<module>"  # a module's own statements, outside every function and class (a Streamlit page's top)
RUNNER = "core/turn/runner.py"
ADMISSION = "core/turn/admission.py"
CONVERSATIONS = "core/conversations.py"
LEDGER = "tests/test_spend_ledger.py"
BURST = "tests/test_ledger_burst.py"
MODELS_PRIVACY = "tests/browser/test_models_privacy.py"


@dataclass(frozen=True)
class Safeguard:
    area: str
    name: str  # what protects the user
    file: str
    function: str  # where it lives: "validate_message", "_Turn.fail" (Class.method), or MODULE
    old: str  # the safeguard, exactly once in that function
    new: str  # the code without it
    tests: tuple[str, ...]


class NotThere(Exception):
    """A safeguard's function, or its code inside the function, is not where the safeguard says."""


def model_row(row: str) -> str:
    return f"{MODELS}::test_a_model_fault_loses_nothing_and_retry_works[{row}]"


def echo_row(row: str) -> str:
    return f"{SECRETS}::test_a_key_the_provider_quotes_in_its_error_appears_nowhere[{row}]"


WIRE = "tests/test_wire_formats.py"
TOOL_QUOTES_SECRETS = f"{REDACT}::test_a_tool_error_quoting_secrets_reaches_no_trace_transcript_or_artifact"


SAFEGUARDS = [
    Safeguard(
        "model",
        "failures described in a sentence naming what failed",
        "core/errors.py",
        "describe",
        "    return clean(_describe(exc, base_url, clean))",
        '    return "The turn failed."',
        (model_row("500 from the chat model"),),
    ),
    # the streamed path (core.observe.spans raises StreamBrokeOff; answers stream by default since issue 15)
    Safeguard(
        "model",
        "a cut-off answer is named as such",
        "core/errors.py",
        "_describe",
        'if type_name == "StreamBrokeOff":',
        "if False:",
        (model_row("answer cut off mid-way"),),
    ),
    Safeguard(
        "model",
        "a malformed reply is named as such",
        "core/errors.py",
        "_describe",
        'unreadable = ("JSONDecodeError", "ValidationError", "UnreadableStream")',
        "unreadable = ()",
        (model_row("malformed JSON body"),),
    ),
    Safeguard(
        "model",
        "the request timeout reaches the openai client",
        "core/runtimes/agentchat/providers.py",
        "_openai_chat",
        "timeout=settings.request_timeout_s,",
        "timeout=60,",
        (model_row("timeout"),),
    ),
    Safeguard(
        "model",
        "the openai SDK's retries (it honours Retry-After)",
        "core/runtimes/agentchat/providers.py",
        "_openai_chat",
        "        max_retries=settings.max_retries,\n",
        "        max_retries=0,\n",
        (model_row("429 with Retry-After (1 retry allowed)"),),
    ),
    # issue 30: what the server sent decides (core/observe/wire.py)
    Safeguard(
        "model",
        "a stream is judged finished by what the server sent, not by agentchat's 'unknown' (usage on the finish chunk)",
        "core/runtimes/agentchat/spans.py",
        "_finished",
        "    if call.broke_off():\n        raise StreamBrokeOff",
        '    if result.finish_reason == "unknown" and pieces:\n        raise StreamBrokeOff',
        (f"{WIRE}::test_each_server_shape_completes_a_turn_with_the_tokens_and_cost_it_reported[llama.cpp]",),
    ),
    Safeguard(
        "model",
        "a stream with neither finish_reason nor [DONE] is named as broken off",
        "core/runtimes/agentchat/spans.py",
        "_finished",
        "    if call.broke_off():\n        raise StreamBrokeOff",
        "    if False:\n        raise StreamBrokeOff",
        (model_row("answer cut off mid-way"),),
    ),
    Safeguard(
        "model",
        "cached input tokens priced at the model's cache-read rate",
        "core/observe/wire.py",
        "CallUsage.attribute",
        "            usage[contract.Usage.CACHE_READ_INPUT_TOKENS] = self.cached_tokens",
        "            pass",
        (f"{WIRE}::test_cached_input_tokens_are_priced_as_mlflow_prices_the_span_and_every_reader_agrees[streamed]",),
    ),
    Safeguard(
        "model",
        "a server that reports no usage leaves tokens and cost unknown, never 0",
        "core/observe/wire.py",
        "usage_from",
        '        return CallUsage(None, None, note="The server reported no token usage for this call.")',
        "        server = {}",
        (f"{WIRE}::test_a_server_that_sends_no_usage_leaves_tokens_and_cost_unknown_never_zero",),
    ),
    Safeguard(
        "model",
        "a stream line that is not JSON is left out, not fatal",
        "core/observe/wire.py",
        "_judge",
        '        call.drop("line that is not JSON")\n        return False',
        "        return True",
        (f"{WIRE}::test_each_server_shape_completes_a_turn_with_the_tokens_and_cost_it_reported[junk-lines]",),
    ),
    Safeguard(
        "settings",
        "the owner's models start the sidebar for the owner's provider",
        "ui/session.py",
        "sidebar_settings",
        "defaults = base if provider == base.provider else Settings.for_provider(provider)",
        "defaults = Settings.for_provider(provider)",
        ("tests/test_owner_models.py::test_the_owners_model_is_the_sidebars_start_and_what_the_models_page_logs[APP_CHAT_MODEL]",),
    ),
    Safeguard(
        "model",
        "a failed turn keeps the user's message and what it got done",
        RUNNER,
        "_Turn.fail",
        "            original,\n            entries=self.entries,",
        "            original,\n            entries=[],",
        (model_row("image endpoint fails mid-loop"),),
    ),
    Safeguard(
        "model",
        "a failed turn saves nothing of itself (the state stays the last good one)",
        RUNNER,
        "_Turn.fail",
        '            _safe(lambda: store.save_lookup(conv), self.warn, "the picture lineage")',
        "            conv.transcript.extend(self.entries); conv.turns = self.turn\n"
        '            _safe(lambda: store.save(conv), self.warn, "the picture lineage")',
        (model_row("503 from the chat model"),),
    ),
    Safeguard(
        "model",
        "the failed turn's trace records the error",
        "core/observe/spans.py",
        "turn_span",
        "            try:\n"
        "                yield span\n"
        "            except BaseException as exc:\n"
        "                if describe is not None:\n"
        "                    said = clip(describe(exc), 1000)\n"
        '                    span.set_attributes({contract.TurnAttr.STATUS: "error", contract.TurnAttr.ERROR: said})\n'
        '                    mlflow.update_current_trace(response_preview=f"Failed: {said}")\n'
        "                raise\n"
        "            finally:\n"
        "                _write_summary(span, info)\n",
        "            failure = None\n"
        "            try:\n"
        "                yield span\n"
        "            except BaseException as exc:\n"
        "                failure = exc\n"
        "                if describe is not None:\n"
        "                    said = clip(describe(exc), 1000)\n"
        '                    span.set_attributes({contract.TurnAttr.STATUS: "error", contract.TurnAttr.ERROR: said})\n'
        '                    mlflow.update_current_trace(response_preview=f"Failed: {said}")\n'
        "            finally:\n"
        "                _write_summary(span, info)\n"
        "        if failure is not None:\n"
        "            raise failure\n",
        (model_row("connection refused"),),
    ),
    Safeguard(
        "model",
        "a critic reply without PROMPT: keeps the previous prompt",
        "core/runtimes/agentchat/agents.py",
        "ImageAgent._next_prompt",
        '                kept = self._last_prompt or ""',
        '                raise ValueError("no PROMPT: in the reply")',
        (model_row("critic reply without PROMPT:"),),
    ),
    Safeguard(
        "store",
        "MLflow's HTTP retries cut from 7 (minutes) to 2 (seconds)",
        "core/observe/export.py",
        "configure",
        '("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),\n            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),',
        '("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7"),\n            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "2"),',
        (f"{STORE}::test_a_store_killed_mid_turn_loses_no_turn_and_the_traces_page_says_unreachable",),
    ),
    Safeguard(
        "store",
        "the chat page writes the session's unsaved turns once the store answers",
        "pages/chat.py",
        "save_unsaved_turns",
        "                written = page_store.store.save_pending(unsaved)",
        "                written = unsaved.pending_turns",
        (f"{STORE}::test_a_store_unreachable_at_start_keeps_the_chat_in_the_session_and_saves_it_once_back",),
    ),
    Safeguard(
        "store",
        "leaving a conversation with unsaved turns keeps it (Not saved yet)",
        "pages/chat.py",
        "new_conversation",
        '    park_unsaved()\n    st.session_state.pop("conversation", None)\n    st.session_state.pop("failed", None)\n',
        '    st.session_state.pop("conversation", None)\n    st.session_state.pop("failed", None)\n',
        (f"{STORE}::test_a_store_unreachable_at_start_keeps_the_chat_in_the_session_and_saves_it_once_back",),
    ),
    Safeguard(
        "store",
        "pictures drawn while the store was away are uploaded with the turn",
        CONVERSATIONS,
        "ConversationStore.save_pending",
        '                record["artifact_path"] = self.save_image(run_id, image_id, png)',
        "                pass",
        (f"{STORE}::test_a_store_killed_mid_turn_loses_no_turn_and_the_traces_page_says_unreachable",),
    ),
    Safeguard(
        "store",
        "the Traces page stops with a message when the store is unreachable",
        "pages/traces.py",
        MODULE,
        "if maybe_store is None:\n",
        "if False:\n",
        (f"{STORE}::test_a_store_killed_mid_turn_loses_no_turn_and_the_traces_page_says_unreachable",),
    ),
    Safeguard(
        "input",
        "an empty message is refused",
        ADMISSION,
        "validate_message",
        "    if not text:\n",
        "    if False:\n",
        (f"{INPUT}::test_empty_and_huge_messages_are_refused_and_kept[whitespace]",),
    ),
    Safeguard(
        "input",
        "an over-long message is refused",
        ADMISSION,
        "validate_message",
        "    if len(text) > MAX_MESSAGE_CHARS:\n",
        "    if False:\n",
        (f"{INPUT}::test_empty_and_huge_messages_are_refused_and_kept[100,000 characters]",),
    ),
    Safeguard(
        "input",
        "replies render as safe markdown (no HTML, picture, javascript: link or LaTeX)",
        "ui/transcript.py",
        "_body",
        '        st.markdown(safe_markdown(entry.get("text", "")))',
        '        st.markdown(entry.get("text", ""))',
        (f"{INPUT}::test_markup_in_a_message_and_in_a_model_reply_stays_text",),
    ),
    Safeguard(
        "input",
        "text is kept exactly (only control characters no store keeps, such as NUL, go)",
        ADMISSION,
        "validate_message",
        '    text = without_controls(message or "")[0].strip()',
        '    text = "".join(c for c in (message or "") if c.isprintable()).strip()',
        (f"{INPUT}::test_right_to_left_and_zero_width_text_round_trips",),
    ),
    Safeguard(
        "input",
        "a non-UTF-8 report is refused, not garbled",
        "core/documents.py",
        "read_upload",
        'return validate_report(data.decode("utf-8-sig"))',
        'return validate_report(data.decode("utf-8-sig", errors="replace"))',
        (f"{INPUT}::test_unusable_uploads_are_explained[non-UTF-8]",),
    ),
    Safeguard(
        "input",
        "an oversized report is refused",
        "core/documents.py",
        "read_upload",
        "    if len(data) > MAX_UPLOAD_BYTES:\n",
        "    if False:\n",
        (f"{INPUT}::test_unusable_uploads_are_explained[huge]",),
    ),
    Safeguard(
        "input",
        "a malformed ?conversation= is refused before MLflow sees it",
        CONVERSATIONS,
        "ConversationStore.load",
        "        if not is_valid_run_id(run_id):\n",
        "        if False:\n",
        (f"{INPUT}::test_malformed_or_unknown_conversation_in_the_address[path-like]",),
    ),
    Safeguard(
        "input",
        "an unknown conversation is told apart from a store failure",
        CONVERSATIONS,
        "ConversationStore.load",
        "            if store.is_not_found(exc):\n",
        "            if False:\n",
        (f"{INPUT}::test_malformed_or_unknown_conversation_in_the_address[unknown]",),
    ),
    Safeguard(
        "input",
        "a run that is not a conversation of this app is not opened",
        CONVERSATIONS,
        "ConversationStore.load",
        "        if contract.RunTag.SCENARIO not in tags or run.info.experiment_id != self.experiment_id:\n",
        "        if False:\n",
        (f"{INPUT}::test_a_foreign_run_in_the_address_is_not_opened",),
    ),
    Safeguard(
        "input",
        "a malformed MLflow filter becomes a message",
        "core/reading/api.py",
        "search_ids",
        'if "INVALID_PARAMETER_VALUE" in str(exc.error_code) or "invalid" in str(exc).lower():',
        "if False:",
        (f"{INPUT}::test_a_malformed_trace_filter_is_explained",),
    ),
    Safeguard(
        "input",
        "image ids must be plain hex",
        CONVERSATIONS,
        "ConversationStore.save_image",
        "        if not is_valid_image_id(image_id):\n",
        "        if False:\n",
        (f"{INPUT}::test_a_path_like_image_id_is_refused",),
    ),
    # the secrets test looks everywhere; each channel a key could leak through is opened once
    Safeguard(
        "secrets",
        "no page shows the key (a sidebar caption shows it)",
        "ui/session.py",
        "store_caption",
        '        st.caption(f"`{display_uri(settings.tracking_uri)}` · experiment `{settings.experiment_name}`")',
        '        st.caption(f"`{display_uri(settings.tracking_uri)}` · experiment `{settings.experiment_name}` {settings.api_key}")',
        (f"{SECRETS}",),
    ),
    # issue 18: channels the app cannot keep closed (a provider quoting the key in its error) are scrubbed; each
    # scrubbing is taken out once
    Safeguard(
        "secrets",
        "a failure is recorded on its spans scrubbed (MLflow's own recording quotes the provider's error verbatim)",
        "core/observe/spans.py",
        "open_span",
        "            record_failure(span, exc)\n",
        "            span.record_exception(exc)\n",
        (echo_row("401 whose body quotes the key"),),
    ),
    Safeguard(
        "secrets",
        "a key is found by its value, whatever it looks like",
        "core/redact.py",
        "scrub",
        "            text = text.replace(value, MASK)\n",
        "            pass\n",
        (echo_row("401 whose body quotes the key"),),
    ),
    Safeguard(
        "secrets",
        "log lines lose their secrets (autogen logs the provider's error with its traceback)",
        "ui/session.py",
        "page_setup",
        "    redact.install_log_scrubber()\n",
        "",
        (echo_row("401 whose body quotes the key"),),
    ),
    Safeguard(
        "secrets",
        "an answer being streamed is scrubbed whole before it is drawn",
        "ui/transcript.py",
        "render_live",
        "safe_markdown(redact.scrub(text))",
        "safe_markdown(text)",
        (echo_row("a stream that quotes the key, then breaks off"),),
    ),
    Safeguard(
        "secrets",
        "span attributes are scrubbed before the span ends (a tool's error quoting a key)",
        "core/observe/spans.py",
        "open_span",
        "            scrub_attributes(span)\n",
        "            pass\n",
        (TOOL_QUOTES_SECRETS,),
    ),
    Safeguard(
        "secrets",
        "an agent's span keeps its streamed answer whole, not piece by piece (a key split over pieces is not found)",
        "core/runtimes/agentchat/spans.py",
        "TracedAgent.on_messages_stream",
        "elif not isinstance(item, ModelClientStreamingChunkEvent):",
        "else:",
        (TOOL_QUOTES_SECRETS,),
    ),
    Safeguard(
        "secrets",
        "transcript lines are scrubbed before they are shown or saved",
        RUNNER,
        "_Turn.tell",
        "for entry in map(self.without_secrets, event.entries):",
        "for entry in event.entries:",
        (TOOL_QUOTES_SECRETS,),
    ),
    Safeguard(
        "secrets",
        "the agents' saved state is scrubbed",
        RUNNER,
        "_Turn.stream",
        "redact.scrub_value(await team.save_state(), (self.settings.api_key,))",
        "await team.save_state()",
        (TOOL_QUOTES_SECRETS,),
    ),
    Safeguard(
        "secrets",
        "no artifact holds the key (the conversation's options carry it)",
        RUNNER,
        "_Turn.finish",
        "        conv.state = self.state\n",
        '        conv.state = self.state\n        conv.options = {**conv.options, "k": str(self.settings.api_key)}\n',
        (f"{SECRETS}",),
    ),
    Safeguard(
        "concurrency",
        "turns kept during an outage are checked against another tab's before writing",
        CONVERSATIONS,
        "ConversationStore.save_pending",
        "            self.check_unchanged(conversation)\n"
        "            if not conversation.pending_turns:  # our earlier save had landed\n                return pending\n",
        "            pass\n",
        (
            f"{CONTRACT}::test_unsaved_turns_never_overwrite_what_another_tab_saved_meanwhile",
            f"{STORE}::test_a_turn_kept_during_an_outage_that_another_tab_overtook_can_be_kept_as_a_new_conversation",
        ),
    ),
    Safeguard(
        "concurrency",
        "a save of this page's that landed unanswered is not taken for another tab's",
        CONVERSATIONS,
        "ConversationStore.check_unchanged",
        "            conversation.pending_turns\n            and conversation.save_token",
        "            False\n            and conversation.pending_turns\n            and conversation.save_token",
        (f"{CONTRACT}::test_a_failed_save_is_no_conflict_with_itself[landed, answer lost]",),
    ),
    Safeguard(
        "concurrency",
        "a copy saved after a conflict brings the pictures of the earlier turns",
        CONVERSATIONS,
        "ConversationStore.save_as_new",
        "                if png := self.load_image(old, image_id):",
        "                if png := None:",
        (f"{CONTRACT}::test_unsaved_turns_never_overwrite_what_another_tab_saved_meanwhile",),
    ),
    Safeguard(
        "concurrency",
        "one turn at a time per conversation",
        RUNNER,
        "_claim",
        "        if conversation_id in _running:\n",
        "        if False:\n",
        (f"{CONTRACT}::test_two_turns_at_once_on_one_conversation_the_second_is_told",),
    ),
    Safeguard(
        "concurrency",
        "a save never overwrites turns another tab saved",
        CONVERSATIONS,
        "ConversationStore.check_unchanged",
        "        if stored > conversation.saved_turns:\n",
        "        if False:\n",
        ("tests/test_chat_scenarios_page.py::test_two_tabs_on_one_conversation_never_lose_a_turn_silently",),
    ),
    # the owner's spend (issue 18): kept where every instance sees it, and taken in one locked transaction
    Safeguard(
        "spend",
        "the ledger is a table every instance shares, not process memory",
        "core/hosted.py",
        "open_ledger",
        "    return SpendGate(database, reservation_ttl_s=ttl)",
        "    return SpendGate(reservation_ttl_s=ttl)",
        (f"{BURST}::test_a_burst_from_two_instances_with_a_restart_stays_within_both_caps[sqlite]",),
    ),
    Safeguard(
        "spend",
        "a reservation locks the day's row before it sums (two instances cannot both take the last cent)",
        "core/ledger.py",
        "SpendBook.reserve",
        ".where(days.c.day == day).with_for_update())",
        ".where(days.c.day == day))",
        (f"{LEDGER}::test_processes_racing_for_the_last_cent_never_pass_the_cap[postgresql]",),
    ),
    Safeguard(
        "spend",
        "sqlite transactions of the ledger begin IMMEDIATE (the write lock first)",
        "core/ledger.py",
        "_engine",
        'connection.exec_driver_sql("BEGIN IMMEDIATE")',
        'connection.exec_driver_sql("BEGIN")',
        (f"{LEDGER}::test_processes_racing_for_the_last_cent_never_pass_the_cap[sqlite]",),
    ),
    Safeguard(
        "spend",
        "an unsettled reservation counts at its bound",
        "core/ledger.py",
        MODULE,
        "else_=reservations.c.reserved_nusd)",
        "else_=0)",
        (f"{LEDGER}::test_an_unsettled_reservation_expires_at_its_bound_and_a_late_settlement_changes_nothing[sqlite]",),
    ),
    Safeguard(
        "spend",
        "a settlement counts the picture prompts no trace records",
        RUNNER,
        "_Turn.billed",
        "        return spent + sum(",
        "        return spent + 0 * sum(",
        ("tests/test_hosted_budget.py::test_a_005_cap_refuses_the_catify_turn_that_would_pass_it",),
    ),
    Safeguard(
        "privacy",
        "a hosted visitor's Models page draws no evaluation (its prompts and answers are other visitors' words)",
        "pages/models.py",
        "evaluation_section",
        '    if not EVALUATIONS:\n        st.info("In this hosted demo, evaluations and their results are for its admin.")\n'
        "        return\n",
        "",
        (MODELS_PRIVACY,),
    ),
    Safeguard(
        "privacy",
        "a hosted visitor's Versions tables name nobody (who logged or promoted a version)",
        "pages/models.py",
        "shown_versions",
        "r if PEOPLE else r.without_people()",
        "r",
        (MODELS_PRIVACY,),
    ),
    Safeguard(
        "privacy",
        "past turns are chat turns and predictions, not an evaluation's answers (the trace's kind)",
        "core/prompt_sets.py",
        "from_past_turns",
        "== contract.TraceKind.EVALUATION:",
        '== "no kind":',
        ("tests/test_model_evaluation.py::test_prompt_sets_are_mlflow_evaluation_datasets_from_lines_files_and_past_turns",),
    ),
    Safeguard(
        "csv",
        "a CSV cell a spreadsheet would run as a formula is made text",
        "core/exports.py",
        "neutral",
        '        return "\'" + value\n',
        "        return value\n",
        ("tests/test_exports.py",),
    ),
    Safeguard(
        "markup",
        "a hosted turn's spans hold no markdown picture (MLflow's UI would fetch it)",
        "core/observe/spans.py",
        "scrub_attributes",
        "            clean = defused(clean)\n",
        "            pass\n",
        (
            f"{CONTRACT}::test_a_hosted_turn_keeps_no_markdown_picture_in_its_spans_and_the_transcript_keeps_the_text",
            "tests/browser/test_mlflow_ui_pictures.py",
        ),
    ),
    Safeguard(
        "markup",
        "safe_markdown: no link to another scheme in what only looks like code or spans two lines",
        "ui/text.py",
        "_defused_everywhere",
        "text = _LINK_DESTINATION.sub(",
        "text = (lambda _, text: text)(",
        ("tests/test_safe_markdown.py::test_no_link_to_another_scheme_survives_anywhere",),
    ),
    Safeguard(
        "markup",
        "safe_markdown: no reference definition at any depth (a blockquote, a list item)",
        "ui/text.py",
        "_defused_everywhere",
        "text = _DEFINITION_COLON.sub(",
        "text = (lambda _, text: text)(",
        ("tests/test_safe_markdown.py::test_no_link_to_another_scheme_survives_anywhere",),
    ),
]

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _first_line(node: ast.AST) -> int:
    """A definition's first line: its first decorator's, else its `def` / `class` line."""
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])


def _qualified_names(body: list[ast.stmt], prefix: str = "") -> list[str]:
    names = []
    for node in body:
        if isinstance(node, _DEFINITIONS):
            names.append(prefix + node.name)
            names.extend(_qualified_names(node.body, f"{prefix}{node.name}."))
    return names


def regions(source: str, file: str, function: str) -> list[tuple[int, int]]:
    """Where a safeguard may be, as (start, end) character offsets in the file: the source lines of `function`
    (a qualified name, "Class.method"; nested definitions by the same dots), or for MODULE the module's own
    statements (every stretch between its top-level functions and classes)."""
    tree = ast.parse(source, file)
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(line: int) -> int:  # where a 1-based line starts; one past the last line is the end of the file
        return starts[min(line, len(starts)) - 1]

    if function == MODULE:
        spans, position = [], 0
        for node in tree.body:
            if isinstance(node, _DEFINITIONS):
                spans.append((position, offset(_first_line(node))))
                position = offset(int(node.end_lineno or node.lineno) + 1)
        return [*spans, (position, len(source))]
    body: list[ast.stmt] = tree.body
    found: ast.stmt | None = None
    for depth, part in enumerate(function.split(".")):
        matches = [node for node in body if isinstance(node, _DEFINITIONS) and node.name == part]
        where = ".".join(function.split(".")[: depth + 1])
        if not matches:
            known = _qualified_names(tree.body)
            near = difflib.get_close_matches(function, known, n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise NotThere(f"{file} has no function {where}{hint}")
        if len(matches) > 1:
            lines = ", ".join(str(node.lineno) for node in matches)
            raise NotThere(f"{file} defines {where} {len(matches)} times (lines {lines}): which one is meant?")
        found = matches[0]
        body = found.body if isinstance(found, _DEFINITIONS) else []
    assert found is not None
    return [(offset(_first_line(found)), offset(int(found.end_lineno or found.lineno) + 1))]


def without(safeguard: Safeguard, source: str) -> str:
    """The file's source with the safeguard taken out of its function; NotThere unless its code is inside
    that function exactly once."""
    hits = []
    for start, end in regions(source, safeguard.file, safeguard.function):
        position = source.find(safeguard.old, start, end)
        while position != -1:
            hits.append(position)
            position = source.find(safeguard.old, position + len(safeguard.old), end)
    if len(hits) != 1:
        where = "the module's own statements" if safeguard.function == MODULE else safeguard.function
        count = "not" if not hits else f"{len(hits)} times"
        elsewhere = source.count(safeguard.old) - len(hits)
        also = f" (it is {elsewhere} time(s) elsewhere in the file)" if elsewhere else ""
        raise NotThere(
            f"the code of “{safeguard.name}” is {count} inside {where} in {safeguard.file}, where it must be "
            f"exactly once{also}:\n    {safeguard.old!r}"
        )
    return source[: hits[0]] + safeguard.new + source[hits[0] + len(safeguard.old) :]


def location(safeguard: Safeguard) -> str:
    return f"`{safeguard.file}`" if safeguard.function == MODULE else f"`{safeguard.file}` `{safeguard.function}`"


def pytest(workdir: Path, tests: list[str], timeout_s: float) -> tuple[int | None, str, float]:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = None, f"no result in {timeout_s:.0f} s: {str(exc.stdout or '')[-500:]}"
    return code, output, time.monotonic() - started


def why_it_failed(output: str) -> str:
    """The first line pytest marks with "E" (the assertion or error), else its summary line."""
    for line in output.splitlines():
        if line.startswith("E ") and line[1:].strip():
            return " ".join(line[1:].split())[:160]
    for line in output.splitlines():
        if line.startswith(("FAILED tests/", "ERROR tests/")):
            return line[:160]
    return output.strip().splitlines()[-1][:160] if output.strip() else ""


def main(argv: list[str]) -> int:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    wanted = argv[0].lower() if argv else ""
    chosen = [s for s in SAFEGUARDS if wanted in f"{s.area} {s.name}".lower()]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "main"
        shutil.copytree(
            ROOT,
            workdir,
            ignore=shutil.ignore_patterns(".git", "test-artifacts", "mlflow.db*", "mlartifacts", "mlruns", "__pycache__", ".pytest_cache"),
        )
        if (ROOT.parent / "shared").exists():
            (Path(tmp) / "shared").symlink_to(ROOT.parent / "shared")
        problems = []
        for safeguard in chosen:  # every change applies, in its function, and leaves valid Python, before minutes are spent
            path = workdir / safeguard.file
            try:
                if not path.is_file():
                    raise NotThere(f"{safeguard.file} does not exist (the safeguard “{safeguard.name}”)")
                ast.parse(without(safeguard, path.read_text()), safeguard.file)
            except NotThere as exc:
                problems.append(str(exc))
            except SyntaxError as exc:
                problems.append(f"taking out “{safeguard.name}” leaves {safeguard.file} invalid Python: {exc}")
        if problems:
            print(
                "Safeguards not found where they are said to be (update SAFEGUARDS in scripts/check_safeguards.py):\n- "
                + "\n- ".join(problems),
                file=sys.stderr,
            )
            return 1
        tests = sorted({t for s in chosen for t in s.tests})
        code, output, _ = pytest(workdir, tests, 1800)
        if code != 0:
            print("The tests do not pass with every safeguard in place:\n" + output[-3000:], file=sys.stderr)
            return 1
        rows = []
        for safeguard in chosen:
            path = workdir / safeguard.file
            original = path.read_text()
            path.write_text(without(safeguard, original))
            try:
                code, output, seconds = pytest(workdir, list(safeguard.tests), 600)
            finally:
                path.write_text(original)
            failed = code == 1 or code is None  # 1: tests failed; None: no answer in time (a hang is a failure)
            verdict = "fails without it" if failed else "STILL PASSES" if code == 0 else f"NO VERDICT (pytest exit {code})"
            print(f"{verdict} ({seconds:.0f} s): {safeguard.area}: {safeguard.name}", flush=True)
            rows.append((safeguard, failed, why_it_failed(output) if failed else "", seconds))
    lines = [
        "# Safeguards",
        "",
        "Generated by `scripts/check_safeguards.py`: each safeguard behind a row of "
        "[RELIABILITY.md](RELIABILITY.md) was taken out of a copy of the code, one at a time, and the tests "
        "that guard it were run without it (after checking that they pass with it).",
        "",
        f"Last run: {time.strftime('%Y-%m-%d', time.gmtime())}, {sum(f for _, f, _, _ in rows)} of {len(rows)} "
        "fail without their safeguard.",
        "",
        "| area | safeguard | taken out of | the test without it | |",
        "|---|---|---|---|---|",
    ]
    for safeguard, failed, why, seconds in rows:
        test = ", ".join(f"`{t.split('::')[-1]}`" for t in safeguard.tests)
        verdict = f"fails ✅ ({why.replace('|', '/')})" if failed else "does not fail ❌"
        lines.append(f"| {safeguard.area} | {safeguard.name} | {location(safeguard)} | {test}: {verdict} | {seconds:.0f} s |")
    if not wanted:
        (ROOT / "docs" / "SAFEGUARDS.md").write_text("\n".join(lines) + "\n")
        print("docs/SAFEGUARDS.md written")
    return 0 if all(f for _, f, _, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
