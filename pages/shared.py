"""A conversation someone shared (`/shared?share=<token>`): its transcript, pictures and turns' traces, read-only.
Nothing of its owner's other conversations, no way to continue it; a revoked or forged link opens nothing."""

import streamlit as st

from ui import navigation

navigation.page_start("shared")  # first: a cold server's direct link reruns through the app's navigation at once

from core import contract, scenarios, sharing, traces
from core.conversations import ConversationError, StoreUnavailable
from core.reading import story
from ui import startup, trace_data, visitor
from ui import sharing as share_ui
from ui.text import plain
from ui.transcript import render_transcript

settings, maybe_store, problem = startup.read_only_page()
token = st.query_params.get("share", "")
shares = share_ui.links(maybe_store, settings) if maybe_store is not None else None
if maybe_store is None or shares is None:
    st.error(
        "Shared conversations cannot be opened on this app right now."
        if maybe_store is None
        else "This app makes no share links (it has no share secret), so this one opens nothing."
    )
    st.stop()
store = maybe_store  # never None past this point
try:
    conversation_id = shares.opened(token)
    conversation = store.load(conversation_id)
    turns = traces.conversation_traces(settings.tracking_uri, store.experiment_id, conversation_id)
except sharing.ShareRefused as exc:  # about the link itself: said as it is
    st.error(plain(exc))
    st.stop()
except (ConversationError, StoreUnavailable, traces.TraceReadError) as exc:  # the store's words: not for strangers
    st.error(plain(exc) if visitor.privileged() else "This shared conversation cannot be shown right now. Try the link again in a moment.")
    st.stop()

known = scenarios.find(conversation.scenario)
st.title(plain(conversation.title or (known.label if known else conversation.scenario)))
st.caption(
    "Shared read-only: this conversation and its traces. "
    + plain(f"{known.label if known else conversation.scenario} · {conversation.turns} turn{'' if conversation.turns == 1 else 's'}")
)
render_transcript(
    conversation.transcript,
    lambda image_id: trace_data.picture(store, settings.tracking_uri, conversation_id, image_id),
    conversation.scenario,
    conversation.id,
    links=False,
)
st.subheader("Its traces")
if not turns:
    st.caption("No trace of its turns is in the store.")
for trace in turns:
    info, table = trace.info, traces.span_table(trace)
    state = str(getattr(info.state, "value", info.state))
    usage, cost = info.token_usage or {}, info.cost or {}
    with st.expander(
        plain(
            f"Turn {(info.tags or {}).get(contract.TraceTag.TURN, '?')} · {state} · "
            f"{int(usage.get('total_tokens') or 0):,} tokens · "
            f"${float(cost.get('total_cost') or 0.0):,.4f}"
        ),
        icon=":material/account_tree:",
    ):
        st.dataframe(
            story.readable(table[["label", "type", "status", "duration_ms", "model", "input_tokens", "output_tokens", "cost_usd"]]),
            hide_index=True,
        )
