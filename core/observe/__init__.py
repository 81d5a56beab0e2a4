"""The write side of the tracing contract and what is built on it: spans (`spans`), how traces leave the
process (`export`), the per-turn summary tag (`summary`), the image lineage (`lineage`), and a filler of
realistic traces (`synthetic`). The read side is `core.traces`."""
