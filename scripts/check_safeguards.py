"""Remove each reliability safeguard once and run the tests that guard it: every one must fail without it
(issue 7: a test that cannot fail proves nothing). Works on a copy of the working tree, one change at a time;
first checks that the same tests pass unchanged. Writes docs/SAFEGUARDS.md. About 15 minutes on 2 cores.

    python scripts/check_safeguards.py            # all
    python scripts/check_safeguards.py secrets    # those whose area or name contains "secrets"
"""

from __future__ import annotations

import ast
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


@dataclass(frozen=True)
class Safeguard:
    area: str
    name: str  # what protects the user
    file: str
    old: str  # the safeguard, exactly once in the file
    new: str  # the code without it
    tests: tuple[str, ...]


def model_row(row: str) -> str:
    return f"{MODELS}::test_a_model_fault_loses_nothing_and_retry_works[{row}]"


SAFEGUARDS = [
    Safeguard("model", "failures described in a sentence naming what failed", "core/errors.py",
              "    text = _describe(exc, base_url)", '    text = "The turn failed."',
              (model_row("500 from the chat model"),)),
    Safeguard("model", "a cut-off answer is named as such", "core/errors.py",
              "if any(mark in everything for mark in _CUT_OFF):", "if False:", (model_row("answer cut off mid-way"),)),
    Safeguard("model", "a malformed reply is named as such", "core/errors.py",
              'type_name in ("JSONDecodeError", "ValidationError")', "type_name in ()",
              (model_row("malformed JSON body"),)),
    Safeguard("model", "the request timeout reaches the openai client", "core/providers.py",
              "timeout=settings.request_timeout_s,", "timeout=60,", (model_row("timeout"),)),
    Safeguard("model", "the openai SDK's retries (it honours Retry-After)", "core/providers.py",
              "api_key=settings.api_key or \"not-needed\", timeout=settings.request_timeout_s,\n                  max_retries=settings.max_retries)",
              "api_key=settings.api_key or \"not-needed\", timeout=settings.request_timeout_s,\n                  max_retries=0)", (model_row("429 with Retry-After (1 retry allowed)"),)),
    Safeguard("model", "a failed turn keeps the user's message and what it got done", "core/runner.py",
              'return TurnOutcome("cancelled" if cancelled else "error", original, entries=entries,',
              'return TurnOutcome("cancelled" if cancelled else "error", original, entries=[],',
              (model_row("image endpoint fails mid-loop"),)),
    Safeguard("model", "a failed turn saves nothing of itself (the state stays the last good one)", "core/runner.py",
              '            _safe(lambda: store.save_lookup(conv), warn, "the picture lineage")',
              '            conv.transcript.extend(entries); conv.turns = turn\n'
              '            _safe(lambda: store.save(conv), warn, "the picture lineage")',
              (model_row("503 from the chat model"),)),
    Safeguard("model", "the failed turn's trace records the error", "core/tracing.py",
              "            try:\n                yield span\n            finally:\n                _write_summary(span, info)\n",
              "            failure = None\n            try:\n                yield span\n            except Exception as exc:\n"
              "                failure = exc\n            finally:\n                _write_summary(span, info)\n"
              "        if failure is not None:\n            raise failure\n",
              (model_row("connection refused"),)),
    Safeguard("model", "a critic reply without PROMPT: keeps the previous prompt", "core/agents.py",
              '                kept = self._last_prompt or ""', '                raise ValueError("no PROMPT: in the reply")',
              (model_row("critic reply without PROMPT:"),)),
    Safeguard("store", "MLflow's HTTP retries cut from 7 (minutes) to 2 (seconds)", "core/tracing.py",
              '("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),\n            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),',
              '("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7"),\n            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "2"),',
              (f"{STORE}::test_a_store_killed_mid_turn_loses_no_turn_and_the_traces_page_says_unreachable",)),
    Safeguard("store", "the chat page writes the session's unsaved turns once the store answers", "pages/chat.py",
              "                written = store.save_pending(unsaved)", "                written = unsaved.pending_turns",
              (f"{STORE}::test_a_store_unreachable_at_start_keeps_the_chat_in_the_session_and_saves_it_once_back",)),
    Safeguard("store", "leaving a conversation with unsaved turns keeps it (Not saved yet)", "pages/chat.py",
              '    park_unsaved()\n    st.session_state.pop("conversation", None)\n    st.session_state.pop("failed", None)\n',
              '    st.session_state.pop("conversation", None)\n    st.session_state.pop("failed", None)\n',
              (f"{STORE}::test_a_store_unreachable_at_start_keeps_the_chat_in_the_session_and_saves_it_once_back",)),
    Safeguard("store", "pictures drawn while the store was away are uploaded with the turn", "core/conversations.py",
              '                record["artifact_path"] = self.save_image(conversation.id, image_id, png)',
              "                pass",
              (f"{STORE}::test_a_store_killed_mid_turn_loses_no_turn_and_the_traces_page_says_unreachable",)),
    Safeguard("store", "the Traces page stops with a message when the store is unreachable", "pages/traces.py",
              "\nif store is None:\n", "\nif False:\n",
              (f"{STORE}::test_a_store_killed_mid_turn_loses_no_turn_and_the_traces_page_says_unreachable",)),
    Safeguard("input", "an empty message is refused", "core/runner.py", "    if not text:\n", "    if False:\n",
              (f"{INPUT}::test_empty_and_huge_messages_are_refused_and_kept[whitespace]",)),
    Safeguard("input", "an over-long message is refused", "core/runner.py", "    if len(text) > MAX_MESSAGE_CHARS:\n",
              "    if False:\n", (f"{INPUT}::test_empty_and_huge_messages_are_refused_and_kept[100,000 characters]",)),
    Safeguard("input", "messages and replies are shown with st.text (markup stays text)", "ui/transcript.py",
              '        # Model output is data: st.text never interprets markup; user text keeps its line breaks too.\n'
              '        st.text(entry.get("text", ""))',
              '        st.markdown(entry.get("text", ""))',
              (f"{INPUT}::test_markup_in_a_message_and_in_a_model_reply_stays_text",)),
    Safeguard("input", "text is kept exactly (no clean-up of invisible characters)", "core/runner.py",
              '    text = (message or "").strip()', '    text = "".join(c for c in (message or "") if c.isprintable()).strip()',
              (f"{INPUT}::test_right_to_left_and_zero_width_text_round_trips",)),
    Safeguard("input", "a non-UTF-8 report is refused, not garbled", "core/reports.py",
              'return validate_report(data.decode("utf-8-sig"))',
              'return validate_report(data.decode("utf-8-sig", errors="replace"))',
              (f"{INPUT}::test_unusable_uploads_are_explained[non-UTF-8]",)),
    Safeguard("input", "an oversized report is refused", "core/reports.py", "    if len(data) > MAX_UPLOAD_BYTES:\n",
              "    if False:\n", (f"{INPUT}::test_unusable_uploads_are_explained[huge]",)),
    Safeguard("input", "a malformed ?conversation= is refused before MLflow sees it", "core/conversations.py",
              "        if not is_valid_run_id(run_id):\n", "        if False:\n",
              (f"{INPUT}::test_malformed_or_unknown_conversation_in_the_address[path-like]",)),
    Safeguard("input", "an unknown conversation is told apart from a store failure", "core/conversations.py",
              "            if is_not_found(exc):\n", "            if False:\n",
              (f"{INPUT}::test_malformed_or_unknown_conversation_in_the_address[unknown]",)),
    Safeguard("input", "a run that is not a conversation of this app is not opened", "core/conversations.py",
              "        if tracing.ATTR_SCENARIO not in tags or run.info.experiment_id != self.experiment_id:\n",
              "        if False:\n", (f"{INPUT}::test_a_foreign_run_in_the_address_is_not_opened",)),
    Safeguard("input", "a malformed MLflow filter becomes a message", "core/traces.py",
              'if "INVALID_PARAMETER_VALUE" in str(exc.error_code) or "invalid" in str(exc).lower():', "if False:",
              (f"{INPUT}::test_a_malformed_trace_filter_is_explained",)),
    Safeguard("input", "image ids must be plain hex", "core/conversations.py",
              "        if not is_valid_image_id(image_id):\n", "        if False:\n",
              (f"{INPUT}::test_a_path_like_image_id_is_refused",)),
    # the secrets test looks everywhere; each channel a key could leak through is opened once
    Safeguard("secrets", "no page shows the key (a sidebar caption shows it)", "ui/session.py",
              '        st.caption(f"`{display_uri(settings.tracking_uri)}` · experiment `{settings.experiment_name}`")',
              '        st.caption(f"`{display_uri(settings.tracking_uri)}` · experiment `{settings.experiment_name}` '
              '{settings.api_key}")', (f"{SECRETS}",)),
    Safeguard("secrets", "no trace records the key (the turn's outputs carry it)", "core/runner.py",
              'span.set_outputs({"status": status,', 'span.set_outputs({"k": str(settings.api_key), "status": status,',
              (f"{SECRETS}",)),
    Safeguard("secrets", "no log line has the key", "core/runner.py",
              "    turn = conv.turns + 1\n", '    turn = conv.turns + 1\n    log.info("key %s", str(settings.api_key))\n',
              (f"{SECRETS}",)),
    Safeguard("secrets", "no artifact holds the key (the conversation's options carry it)", "core/runner.py",
              "    conv.state = state\n", '    conv.state = state\n    conv.options = {**conv.options, "k": str(settings.api_key)}\n',
              (f"{SECRETS}",)),
    Safeguard("concurrency", "turns kept during an outage are checked against another tab's before writing",
              "core/conversations.py", "            self.check_unchanged(conversation)\n"
              "            if not conversation.pending_turns:  # our earlier save had landed\n                return pending\n",
              "            pass\n", ("tests/test_tracing_contract.py::test_unsaved_turns_never_overwrite_what_another_tab_saved_meanwhile",
                   f"{STORE}::test_a_turn_kept_during_an_outage_that_another_tab_overtook_can_be_kept_as_a_new_conversation")),
    Safeguard("concurrency", "a save of this page's that landed unanswered is not taken for another tab's",
              "core/conversations.py", "        if conversation.pending_turns and conversation.save_token",
              "        if False and conversation.pending_turns and conversation.save_token",
              ("tests/test_tracing_contract.py::test_a_failed_save_is_no_conflict_with_itself[landed, answer lost]",)),
    Safeguard("concurrency", "a copy saved after a conflict brings the pictures of the earlier turns",
              "core/conversations.py", "                if png := self.load_image(old, image_id):",
              "                if png := None:",
              ("tests/test_tracing_contract.py::test_unsaved_turns_never_overwrite_what_another_tab_saved_meanwhile",)),
    Safeguard("concurrency", "one turn at a time per conversation", "core/runner.py",
              "        if conversation_id in _running:\n", "        if False:\n",
              ("tests/test_tracing_contract.py::test_two_turns_at_once_on_one_conversation_the_second_is_told",)),
    Safeguard("concurrency", "a save never overwrites turns another tab saved", "core/conversations.py",
              "        if stored > conversation.saved_turns:\n", "        if False:\n",
              ("tests/test_chat_scenarios_page.py::test_two_tabs_on_one_conversation_never_lose_a_turn_silently",)),
]


def pytest(workdir: Path, tests: list[str], timeout_s: float) -> tuple[int | None, str, float]:
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=workdir, capture_output=True, text=True, timeout=timeout_s)
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


def main(argv: list[str]) -> int:
    wanted = argv[0].lower() if argv else ""
    chosen = [s for s in SAFEGUARDS if wanted in f"{s.area} {s.name}".lower()]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "main"
        shutil.copytree(ROOT, workdir, ignore=shutil.ignore_patterns(
            ".git", "test-artifacts", "mlflow.db*", "mlartifacts", "mlruns", "__pycache__", ".pytest_cache"))
        if (ROOT.parent / "shared").exists():
            (Path(tmp) / "shared").symlink_to(ROOT.parent / "shared")
        for safeguard in chosen:  # every change applies and leaves valid Python, before minutes are spent
            source = (workdir / safeguard.file).read_text()
            if source.count(safeguard.old) != 1:
                print(f"{safeguard.name}: its code is not in {safeguard.file} exactly once", file=sys.stderr)
                return 1
            ast.parse(source.replace(safeguard.old, safeguard.new), safeguard.file)
        tests = sorted({t for s in chosen for t in s.tests})
        code, output, _ = pytest(workdir, tests, 1800)
        if code != 0:
            print("The tests do not pass with every safeguard in place:\n" + output[-3000:], file=sys.stderr)
            return 1
        rows = []
        for safeguard in chosen:
            path = workdir / safeguard.file
            original = path.read_text()
            path.write_text(original.replace(safeguard.old, safeguard.new))
            try:
                code, output, seconds = pytest(workdir, list(safeguard.tests), 600)
            finally:
                path.write_text(original)
            failed = code == 1 or code is None  # 1: tests failed; None: no answer in time (a hang is a failure)
            verdict = "fails without it" if failed else "STILL PASSES" if code == 0 else f"NO VERDICT (pytest exit {code})"
            print(f"{verdict} ({seconds:.0f} s): {safeguard.area}: {safeguard.name}", flush=True)
            rows.append((safeguard, failed, why_it_failed(output) if failed else "", seconds))
    lines = ["# Safeguards", "",
             "Generated by `scripts/check_safeguards.py`: each safeguard behind a row of "
             "[RELIABILITY.md](RELIABILITY.md) was taken out of a copy of the code, one at a time, and the tests "
             "that guard it were run without it (after checking that they pass with it).", "",
             f"Last run: {time.strftime('%Y-%m-%d', time.gmtime())}, {sum(f for _, f, _, _ in rows)} of {len(rows)} "
             "fail without their safeguard.", "",
             "| area | safeguard | taken out of | the test without it | |", "|---|---|---|---|---|"]
    for safeguard, failed, why, seconds in rows:
        test = ", ".join(f"`{t.split('::')[-1]}`" for t in safeguard.tests)
        verdict = f"fails ✅ ({why.replace('|', '/')})" if failed else "does not fail ❌"
        lines.append(f"| {safeguard.area} | {safeguard.name} | `{safeguard.file}` | {test}: {verdict} | {seconds:.0f} s |")
    if not wanted:
        (ROOT / "docs" / "SAFEGUARDS.md").write_text("\n".join(lines) + "\n")
        print("docs/SAFEGUARDS.md written")
    return 0 if all(f for _, f, _, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
