"""The write side of the tracing contract and what is built on it: spans (`spans`), how traces leave the
process (`export`), the per-turn summary tag (`summary`), what a server sent (`wire`). The read side is
`core.traces` and `core.reading`."""
