"""The container runtime contract, shaped like the CRI (``k8s.io/cri-api`` RuntimeService and
ImageService) so that a containerd-over-gRPC runtime can sit behind it unchanged.

The kubelet core talks to exactly these protocols. Guarantees every implementation gives:
- ids are opaque strings, unique per runtime for its lifetime; methods taking an id raise
  ``NotFoundError`` for an id the runtime does not know (except the idempotent ones below);
- ``stop_pod_sandbox``, ``remove_pod_sandbox``, ``stop_container`` and ``remove_container`` are
  idempotent: stopping what is stopped or removing what is gone succeeds;
- ``stop_container(id, timeout)`` asks the container to stop (SIGTERM or equivalent), waits at most
  ``timeout`` seconds, then forces it (SIGKILL); it returns once the container has EXITED;
- statuses are snapshots (frozen dataclasses), never live views;
- a runtime that learns of a state change on its own (a process exited, a simulated run ended)
  tells subscribers through ``subscribe`` (the CRI's ``GetContainerEvents``), so the kubelet does
  not need to poll; handlers are plain callables run on the event loop and must not block;
- streaming (exec, attach, port-forward, logs) may raise ``NotSupportedError``.
Methods are coroutines: a real runtime does I/O; nothing blocks the loop.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import AsyncIterator, Callable, Mapping, Protocol, Sequence

# Set by the kubelet on every ContainerConfig's annotations: which kind of container of the pod this
# is (the CRI itself does not know init containers from regular ones).
CONTAINER_TYPE = "navarch.io/container-type"
INIT, SIDECAR, REGULAR = "init", "sidecar", "regular"


class RuntimeFailure(Exception):
    """Base of the errors a runtime raises on purpose."""


class NotFoundError(RuntimeFailure):
    """No sandbox, container or image with that id."""


class NotSupportedError(RuntimeFailure):
    """The runtime does not implement this operation (for example, exec on a simulated node)."""


class CreateContainerConfigError(RuntimeFailure):
    """The container cannot be created from its spec as given (a missing ConfigMap key, a process-runtime
    container without ``command``); the kubelet reports waiting reason ``CreateContainerConfigError``."""


class ImagePullError(RuntimeFailure):
    """The image could not be pulled; ``reason`` is the waiting reason the kubelet reports."""

    def __init__(self, message: str, reason: str = "ErrImagePull") -> None:
        super().__init__(message)
        self.reason = reason


class SandboxState(enum.Enum):
    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(enum.Enum):
    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


class ContainerEventType(enum.Enum):
    CREATED = "CONTAINER_CREATED_EVENT"
    STARTED = "CONTAINER_STARTED_EVENT"
    STOPPED = "CONTAINER_STOPPED_EVENT"
    DELETED = "CONTAINER_DELETED_EVENT"


# ---- configuration the kubelet hands to the runtime ------------------------------------------------

@dataclass(frozen=True)
class PodSandboxConfig:
    """CRI ``PodSandboxConfig``: who the sandbox is for. ``annotations`` are the pod's own, as the
    kubelet passes them upstream (the simulated runtime reads its knobs from them)."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0
    hostname: str = ""
    host_network: bool = False
    log_directory: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    dns_servers: Sequence[str] = ()
    dns_searches: Sequence[str] = ()
    port_mappings: Sequence[Mapping[str, object]] = ()


@dataclass(frozen=True)
class Mount:
    container_path: str
    host_path: str
    readonly: bool = False


@dataclass(frozen=True)
class ContainerConfig:
    """CRI ``ContainerConfig``. ``attempt`` is the restart count this instance will carry.
    ``annotations`` carry what the kubelet needs to find again (upstream: io.kubernetes.container.*)."""

    name: str
    image: str
    attempt: int = 0
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    working_dir: str = ""
    envs: Mapping[str, str] = field(default_factory=dict)
    mounts: Sequence[Mount] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    log_path: str = ""
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    cpu_millis: int | None = None
    memory_limit_bytes: int | None = None
    # CRI LinuxContainerSecurityContext: None keeps the image's (the runtime's) user and group.
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: Sequence[int] = ()


# ---- what the runtime reports ---------------------------------------------------------------------

@dataclass(frozen=True)
class PodSandboxStatus:
    id: str
    name: str
    namespace: str
    uid: str
    attempt: int
    state: SandboxState
    created_at: datetime
    ip: str = ""
    additional_ips: tuple[str, ...] = ()
    host_network: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerStatus:
    """One container instance. ``attempt`` is its restart count; ``reason``/``message`` explain an
    exit (``Completed``, ``Error``, ``OOMKilled``) as the runtime saw it."""

    id: str
    sandbox_id: str
    name: str
    attempt: int
    image: str
    image_ref: str
    state: ContainerState
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    log_path: str = ""


@dataclass(frozen=True)
class ContainerEvent:
    container_id: str
    sandbox_id: str
    type: ContainerEventType
    created_at: datetime


@dataclass(frozen=True)
class Image:
    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...] = ()
    size: int = 0
    # CRI Image.uid / username: the user the image runs as (neither known: root, as upstream assumes).
    uid: int | None = None
    username: str = ""


@dataclass(frozen=True)
class RuntimeCondition:
    type: str  # RuntimeReady or NetworkReady, as the CRI names them
    status: bool
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class VersionInfo:
    runtime_name: str
    runtime_version: str
    runtime_api_version: str = "v1"


@dataclass(frozen=True)
class SandboxFilter:
    id: str = ""
    state: SandboxState | None = None
    uid: str = ""


@dataclass(frozen=True)
class ContainerFilter:
    id: str = ""
    sandbox_id: str = ""
    state: ContainerState | None = None


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since: datetime | None = None
    timestamps: bool = False


class StreamSession(Protocol):
    """A live exec or attach: the kubelet's server copies bytes between it and the client."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def read_stdout(self) -> bytes:
        """The next chunk; b"" at end of stream."""
        ...

    async def read_stderr(self) -> bytes: ...

    async def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int:
        """The exit code once the process has ended."""
        ...


class PortStream(Protocol):
    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def write_eof(self) -> None:
        """Half-close: the client finished sending (kubectl's local side closed its write end)."""
        ...

    async def close(self) -> None: ...


ContainerEventHandler = Callable[[ContainerEvent], None]


# ---- the services ---------------------------------------------------------------------------------

class RuntimeService(Protocol):
    async def version(self) -> VersionInfo: ...

    async def status(self) -> list[RuntimeCondition]:
        """RuntimeReady and NetworkReady; the node is Ready only when both are true."""
        ...

    async def update_runtime_config(self, pod_cidr: str) -> None:
        """The node's pod CIDR, once known (CRI ``UpdateRuntimeConfig``): where pod IPs come from."""
        ...

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stops every container of the sandbox (forcibly) and tears down its network; idempotent."""
        ...

    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...

    async def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus: ...

    async def list_pod_sandbox(self, filter: SandboxFilter | None = None) -> list[PodSandboxStatus]: ...

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox_config: PodSandboxConfig) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: float) -> None: ...

    async def remove_container(self, container_id: str) -> None: ...

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[ContainerStatus]: ...

    def subscribe(self, handler: ContainerEventHandler) -> Callable[[], None]:
        """Call ``handler`` for every container event from now on; returns the unsubscribe callable."""
        ...


class ImageService(Protocol):
    async def pull_image(self, image: str, auth: Mapping[str, str] | None = None) -> str:
        """The image reference (digest) now present; raises ``ImagePullError``."""
        ...

    async def image_status(self, image: str) -> Image | None:
        """None when the image is not present."""
        ...

    async def list_images(self) -> list[Image]: ...

    async def remove_image(self, image: str) -> None: ...


class StreamingService(Protocol):
    """What ``kubectl exec/attach/port-forward/logs`` and exec probes need. Runtimes that cannot
    stream raise ``NotSupportedError``."""

    async def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: float) -> ExecResult: ...

    async def exec(self, container_id: str, cmd: Sequence[str], *, stdin: bool, tty: bool) -> StreamSession: ...

    async def attach(self, container_id: str, *, stdin: bool, tty: bool) -> StreamSession: ...

    async def port_forward(self, sandbox_id: str, port: int) -> PortStream: ...

    def container_logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]: ...


class Runtime(RuntimeService, ImageService, StreamingService, Protocol):
    """All three services from one object, as a CRI endpoint serves them. A runtime that runs no
    images (the process runtime) sets a class attribute ``uses_images = False``: the kubelet then
    skips the image step of a container start."""
