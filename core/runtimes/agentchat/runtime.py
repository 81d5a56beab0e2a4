"""agentchat (autogen-agentchat 0.7.5) behind the runtime protocol (core.runtimes): a scenario's `TeamPlan` as a
`Team`, its `run_stream` items read into the protocol's events (`stream.StreamReader`), its state saved and loaded as
agentchat keeps it, Stop as the team's `ExternalTermination`, a hard stop as its `CancellationToken`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping

from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken

from ...agents import TeamContext
from .. import Finished, RunEvent, Spoke, Task, Working, Writing
from .agents import TeamPlan
from .providers import Clients, build_clients
from .stream import StreamReader
from .teams import BUILDERS

if TYPE_CHECKING:
    from ...config import Settings
    from ...scenarios import Scenario


class AgentchatTeam:
    """One turn's agentchat team (a scenario's `TeamPlan`) as the protocol's `Team`."""

    def __init__(self, plan: TeamPlan, reader: StreamReader):
        self.plan, self.reader = plan, reader
        self.total_steps = plan.total_steps
        self._cancel = CancellationToken()
        self._stopped = False

    async def load_state(self, state: Mapping[str, Any]) -> None:
        await self.plan.team.load_state(state)

    async def save_state(self) -> dict[str, Any]:
        return dict(await self.plan.team.save_state())

    def stop(self) -> None:
        self._stopped = True
        self.plan.stop.set()

    def cancel(self) -> None:
        self._cancel.cancel()

    def _task(self, task: Task) -> Any:
        """The task message: a TextMessage, or what the team needs to resume (a Swarm that handed over to the user
        resumes only on a HandoffMessage back to the agent that asked: `TeamPlan.task_message`)."""
        plan = self.plan
        if plan.task_message is not None:
            return plan.task_message(task.text, task.resume_from)
        return TextMessage(content=plan.task(task.text), source="user")

    async def run(self, task: Task) -> AsyncIterator[RunEvent]:
        plan, reader = self.plan, self.reader
        async for item in plan.team.run_stream(task=self._task(task), cancellation_token=self._cancel):
            reading = reader.read(item)
            if reading.chunk is not None:
                yield Writing(reading.chunk[0], reading.chunk[1], reader.step)
            if reading.progress is not None:
                yield Working(reading.progress.text, reading.progress.step)
            if reading.entries:
                yield Spoke(reading.entries, reader.step)
        early = reader.step < plan.total_steps if plan.total_steps else "External termination" in reader.stop_reason
        ended = not reader.waiting and early  # before the team's own end: by Stop
        guarded = bool(plan.guard) and f"Maximum number of messages {plan.guard} reached" in reader.stop_reason
        yield Finished(
            reader.stop_reason,
            reader.step,
            waiting=reader.waiting,
            stopped=self._stopped and ended,
            guard=plan.guard if guarded else 0,
        )


class AgentchatRuntime:
    name = "agentchat"
    sources = ("core.runtimes.agentchat.team_scenarios",)  # team files (AutoGen Studio's format, create_team) as scenarios
    teams = frozenset(BUILDERS)  # the scenarios' `team` names it builds (core.agents.runtimes_for)

    def models(self, settings: Settings) -> Clients:
        return build_clients(settings)

    def build(self, scenario: Scenario, context: TeamContext) -> AgentchatTeam:
        """The scenario's team: agentchat's builder for its `team` (teams/), else the scenario's own (a team file)."""
        builder = BUILDERS.get(scenario.team) or scenario.build
        if builder is None:
            raise ValueError(f"agentchat has no team for the scenario “{scenario.key}”.")
        plan = builder(context)

        def doing(name: str) -> str:
            info = scenario.agent(name)
            return info.doing if info is not None else "working"

        reader = StreamReader(turn=context.turn, doing=doing, explain=plan.explain, label=context.label)
        return AgentchatTeam(plan, reader)


RUNTIME = AgentchatRuntime()
