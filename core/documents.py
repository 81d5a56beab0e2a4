"""A text document a scenario works on (Analyst & Summarizer: the report): pasted text or an uploaded .txt / .md file,
checked before any model sees it (size, binary content, encoding) with a message that says what to do instead."""

from __future__ import annotations

import re

from .errors import InputError

MAX_REPORT_CHARS = 100_000  # about 25,000 tokens: room for the answers in any current model's context
# one constant for the upload box (st.file_uploader's max_upload_size, whole MB) and the check behind it; Streamlit's
# uploader counts a MB as 1,000,000 bytes (its frontend's size unit off Windows), so both say the same
MAX_UPLOAD_MB = 1
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1_000_000
ALLOWED_SUFFIXES = (".txt", ".md", ".markdown")


def validate_report(text: str) -> str:
    report = (text or "").replace("\r\n", "\n").strip()
    if not report:
        raise InputError("There is no report yet: paste its text or upload a .txt or .md file.")
    if len(report) > MAX_REPORT_CHARS:
        raise InputError(
            f"The report has {len(report):,} characters; the limit is {MAX_REPORT_CHARS:,}. "
            "Send the part that matters, or split it over several conversations."
        )
    return report


def looks_like_report(text: str) -> bool:
    """A message that is a document rather than a question: long, and several sentences or lines."""
    text = (text or "").strip()
    return len(text) >= 300 and (text.count("\n") >= 2 or len(re.findall(r"[.!?](\s|$)", text)) >= 3)


def read_upload(name: str, data: bytes) -> str:
    """The text of an uploaded report, or InputError saying why it cannot be used."""
    if not (name or "").lower().endswith(ALLOWED_SUFFIXES):
        raise InputError(f"“{name}” is not a .txt or .md file. Save the report as plain text first.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"“{name}” is {len(data) / 1e6:.1f} MB; reports can be up to {MAX_UPLOAD_MB} MB.")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its byte-order mark (Windows Notepad)
        return validate_report(data.decode("utf-16"))
    if b"\x00" in data[:8192]:
        raise InputError(f"“{name}” looks like a binary file, not text. Upload the report as .txt or .md.")
    try:
        return validate_report(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(f"“{name}” is not UTF-8 text, so it cannot be read reliably. Save it as UTF-8 and upload it again.") from None
