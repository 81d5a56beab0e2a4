"""Reading traces, behind `core/traces.py` (the front the pages call): `readers` picks `sql` (every raw SQL
statement on MLflow's own tables) or `api` (MLflow's client); `frames` shapes what they read, `sums` adds it up in
memory, `aggregates` asks the store to add it up past the read-all limit; `story` is one trace as a person reads
it, `lineage` a conversation's pictures. Never imports Streamlit; nothing here writes a trace."""
