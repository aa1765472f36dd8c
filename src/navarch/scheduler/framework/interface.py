"""One narrow protocol per extension point, as upstream's framework/interface.go.

A plugin is one class with a ``name`` (upstream's, so configurations read the same) implementing any
of these. Plugins never call each other: what one computes for a pod in PreFilter/PreScore it keeps
in the per-attempt ``CycleState``. Every method except Bind and the queue hooks is synchronous and
must not block: the whole scheduling cycle runs without yielding to the event loop, so the cache
cannot change under it. ``None`` means Success wherever a ``Status`` is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Mapping, Protocol, Sequence, runtime_checkable

from navarch.scheduler.framework.status import Status
from navarch.scheduler.framework.types import ClusterEvent, NodeInfo, PodInfo

if TYPE_CHECKING:
    from navarch.client.rest import Client
    from navarch.machinery.events import EventRecorder


class CycleState:
    """Data plugins share within one scheduling attempt of one pod (written in Pre*, read after)."""

    __slots__ = ("_data", "skip_filter", "skip_score")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()

    def read(self, key: str) -> Any:
        """The stored value; KeyError when nothing was written (a plugin bug: its Pre* did not run)."""
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def clone(self) -> "CycleState":
        """A copy for what-if evaluation (preemption); values are shared, keys are not."""
        c = CycleState()
        c._data = dict(self._data)
        c.skip_filter = set(self.skip_filter)
        c.skip_score = set(self.skip_score)
        return c


@dataclass(slots=True)
class PreFilterResult:
    """PreFilter may narrow the nodes worth filtering (None: all nodes)."""

    node_names: frozenset[str] | None = None


@dataclass(slots=True)
class PostFilterResult:
    nominated_node_name: str = ""


@dataclass(slots=True)
class NodeScore:
    name: str
    score: int


class Handle(Protocol):
    """What plugins may use besides their arguments: the snapshot, the API and the event recorder."""

    client: "Client"
    recorder: "EventRecorder"

    def node_infos(self) -> Sequence[NodeInfo]:
        """Every node in the current snapshot (do not mutate)."""
        ...

    def get_node_info(self, name: str) -> NodeInfo | None: ...

    def nodes_with_affinity_pods(self) -> Sequence[NodeInfo]:
        """Nodes running at least one pod with (anti-)affinity terms; cheap when there are none."""
        ...

    def nodes_with_required_anti_affinity_pods(self) -> Sequence[NodeInfo]: ...

    def namespace_labels(self) -> Mapping[str, Mapping[str, str]]:
        """Labels of every namespace, for affinity terms with a namespaceSelector."""
        ...

    def run_filters(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Run the profile's Filter plugins on one (possibly cloned) node (used by preemption)."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run API work in the background (preemption's evictions), tracked and logged on failure."""
        ...

    def priority_of(self, pod: PodInfo) -> int: ...


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class QueueSortPlugin(Plugin, Protocol):
    def less(self, a: Any, b: Any) -> bool:
        """Whether queued pod ``a`` should be tried before ``b``."""
        ...


@runtime_checkable
class EnqueueExtensions(Plugin, Protocol):
    def events_to_register(self) -> list[ClusterEvent]:
        """Cluster changes that may make a pod this plugin rejected schedulable again."""
        ...


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: PodInfo,
                   nodes: Sequence[NodeInfo]) -> tuple[PreFilterResult | None, Status | None]:
        """Compute per-pod state once. Skip: this plugin's Filter is not needed for this pod.
        A rejection makes every node fail with it."""
        ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Whether the pod may run on the node. Called for thousands of nodes per pod: keep it cheap."""
        ...


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    def post_filter(self, state: CycleState, pod: PodInfo,
                    statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status | None]:
        """Called when no node fits; may make room (preemption). ``statuses``: node -> Filter status."""
        ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        """Compute per-pod scoring state over the feasible nodes. Skip: this plugin's Score is not needed."""
        ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """A raw score for one feasible node; raising marks the attempt as an Error."""
        ...


@runtime_checkable
class ScoreExtensions(Plugin, Protocol):
    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status | None:
        """Rescale this plugin's raw scores in place to [0, MAX_NODE_SCORE]."""
        ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Undo ``reserve``; idempotent, must not fail."""
        ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Make the assignment real through the API. Skip: let the next binder do it."""
        ...


PluginFactory = Callable[[Mapping[str, Any], Handle], Plugin]


@dataclass
class Diagnosis:
    node_to_status: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


NO_NODE_AVAILABLE_MSG = "0/{} nodes are available"
NO_NODES_AVAILABLE = "no nodes available to schedule pods"


class FitError(Exception):
    """No node fits; ``str()`` is upstream's message:
    ``0/X nodes are available: <PreFilterMsg>. <counted Filter reasons>. <PostFilterMsg>``."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        msg = NO_NODE_AVAILABLE_MSG.format(self.num_all_nodes) + ":"
        d = self.diagnosis
        if d.pre_filter_msg:
            msg += f" {d.pre_filter_msg}."
        else:
            counts: dict[str, int] = {}
            for status in d.node_to_status.values():
                for reason in status.reasons:
                    counts[reason] = counts.get(reason, 0) + 1
            # Go's sort.Strings over "<count> <reason>": byte order, counts compared as text.
            histogram = sorted(f"{n} {reason}" for reason, n in counts.items())
            if histogram:
                msg += f" {', '.join(histogram)}."
        if d.post_filter_msg:
            msg += f" {d.post_filter_msg}"
        return msg


class NoNodesAvailable(Exception):
    def __str__(self) -> str:
        return NO_NODES_AVAILABLE
