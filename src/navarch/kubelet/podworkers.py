"""The pod workers of one node: bring each pod's runtime state to what its spec asks, one sync at a
time per pod, and report it.

A sync is level-triggered and idempotent (upstream ``SyncPod`` / ``SyncTerminatingPod`` /
``SyncTerminatedPod``), called by the host's work queue for one pod key, which never runs one key
twice at once:
- a running pod gets a sandbox (with its IP), then its init containers in order (each must exit 0;
  sidecars, ``restartPolicy: Always`` init containers, only need to be running), then its containers;
  exited containers are restarted as the restart policy and CrashLoopBackOff (``backoff.py``) allow;
- a pod with ``deletionTimestamp`` has its containers stopped with the grace period it was given,
  its sandbox stopped, its final status written, and is then deleted with grace 0 (the kubelet's
  confirmation that nothing of it runs any more);
- a pod that finished (Succeeded/Failed) has its sandbox stopped and is never restarted;
- a pod that vanished from the API (force-deleted) has its containers stopped and removed.
Stopping containers can take the whole grace period, so it runs as its own task and re-queues the
pod when done, keeping the shared workers free. Runtime events (a container exited) re-queue the
pod at once; every live pod is also re-synced every ``pod_resync_interval``.

Probes (``prober/``, when a ``ProbeManager`` is given): each sync of a running pod hands the
probe workers its containers and takes back which are ready and started; a changed probe result
re-queues the pod. A running container whose liveness (or startup) probe failed past its threshold
is killed as upstream does (``Killing`` "Container c failed liveness probe, will be restarted",
with the probe's ``terminationGracePeriodSeconds`` when set) in a task of its own, then started
again under the restart policy (whatever its exit code, unless the policy is Never), held back by
CrashLoopBackOff only as upstream holds it: measured from the exit of the instance before it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Mapping

from navarch.api.durations import go_seconds
from navarch.kubelet import podstatus, securitycontext
from navarch.kubelet.backoff import (
    NEVER,
    CrashLoopBackOff,
    container_restart_policy,
    should_restart,
)
from navarch.kubelet.podconfig import PodConfigurator, VolumeError
from navarch.kubelet.podstatus import (
    TERMINAL_PHASES,
    PodRuntimeState,
    is_restartable_init,
)
from navarch.kubelet.prober import ProbeManager, ProbeType
from navarch.kubelet.runtimes.interface import (
    CONTAINER_TYPE,
    INIT,
    REGULAR,
    SIDECAR,
    ContainerConfig,
    ContainerEvent,
    ContainerEventType,
    ContainerState,
    ContainerStatus,
    CreateContainerConfigError,
    ImagePullError,
    NotFoundError,
    PodSandboxConfig,
    PodSandboxStatus,
    Runtime,
    RuntimeFailure,
    SandboxState,
)
from navarch.kubelet.statusmanager import StatusManager
from navarch.machinery.clock import Clock
from navarch.machinery.events import NORMAL, WARNING, EventRecorder, object_reference

log = logging.getLogger(__name__)

DEFAULT_GRACE = 30
# Seconds before a pod whose volumes or container configuration failed is tried again.
CONFIG_RETRY = 5.0
# Instances kept per container: the current one and the one before it (for ``lastState``).
KEEP_INSTANCES = 2

Requeue = Callable[[str, float], None]


@dataclass
class PodRecord:
    """This node's memory of one pod instance (one uid)."""

    key: str
    uid: str
    pod: Mapping[str, Any]
    sandbox_id: str = ""
    sandbox_attempt: int = -1
    sandbox_config: PodSandboxConfig | None = None
    containers: dict[str, list[str]] = field(default_factory=dict)  # name -> ids, newest first
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    kill_task: asyncio.Task[None] | None = None
    killed: bool = False
    # Containers being stopped because a probe failed them (id -> task), and those of them that
    # are to be started again once stopped.
    probe_kills: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    restart_after_kill: set[str] = field(default_factory=set)
    pod_ips: tuple[str, ...] = ()
    isolation_reported: bool = False


class PodWorkers:
    def __init__(self, node_name: str, runtime: Runtime, status: StatusManager, clock: Clock,
                 backoff: CrashLoopBackOff, *, runtime_name: str, host_ips: Callable[[], list[str]],
                 recorder: EventRecorder | None = None, resync_interval: float = 60.0,
                 prober: ProbeManager | None = None, configurator: PodConfigurator | None = None) -> None:
        self.node_name = node_name
        self.runtime = runtime
        self.status = status
        self.clock = clock
        self.backoff = backoff
        self.runtime_name = runtime_name
        self.host_ips = host_ips
        self.recorder = recorder
        self.resync_interval = resync_interval
        self.prober = prober
        self.configurator = configurator
        self.records: dict[str, PodRecord] = {}
        self._by_sandbox: dict[str, str] = {}
        self._requeue: Requeue = lambda key, delay: None
        self._unsubscribe: Callable[[], None] | None = None
        # What the runtime already ran before this kubelet started, by pod uid (read once, at the
        # first sync), handed to each pod's record when it is first seen.
        self._adoptable: dict[str, tuple[list[PodSandboxStatus], list[ContainerStatus]]] | None = None
        self._adopt_lock = asyncio.Lock()
        self._syncing: set[str] = set()  # keys whose sync is running now

    def attach(self, requeue: Requeue) -> None:
        """Wire the host's queue in, and listen to the runtime's container events."""
        self._requeue = requeue
        if self._unsubscribe is None:
            self._unsubscribe = self.runtime.subscribe(self._on_container_event)
        if self.prober is not None:
            self.prober.attach(lambda key: self._requeue(key, 0.0), self._probe_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for rec in self.records.values():
            if rec.kill_task is not None:
                rec.kill_task.cancel()
            for task in rec.probe_kills.values():
                task.cancel()
        if self.prober is not None:
            self.prober.stop()

    # ---- the sync ----------------------------------------------------------------------------------

    async def sync(self, key: str, pod: Mapping[str, Any] | None) -> None:
        self._syncing.add(key)
        try:
            await self._sync(key, pod)
        finally:
            self._syncing.discard(key)

    async def _sync(self, key: str, pod: Mapping[str, Any] | None) -> None:
        rec = self.records.get(key)
        if rec is not None and (pod is None or _uid(pod) != rec.uid):
            await self._sync_removed(rec)
            if pod is None or key in self.records:
                return
            rec = None
        if pod is None:
            return
        if rec is None:
            rec = PodRecord(key, _uid(pod), pod)
            self.records[key] = rec
            await self._adopt(rec, pod)
        rec.pod = pod
        if rec.kill_task is not None:
            return  # the kill task re-queues the pod when it is done
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            await self._sync_deleting(rec, pod)
            return
        # ``killed`` without a deletion means this node finished the pod, even while the cache
        # still shows the phase from before our final status write.
        if rec.killed or (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            await self._sync_finished(rec, pod)
            return
        await self._sync_running(rec, pod)

    async def _sync_running(self, rec: PodRecord, pod: Mapping[str, Any]) -> None:
        retry: list[float] = [self.resync_interval] if self.resync_interval > 0 else []
        sandbox = await self._ensure_sandbox(rec, pod)
        if sandbox is not None and await self._volumes_ready(rec, pod):
            rec.pod_ips = tuple(ip for ip in (sandbox.ip, *sandbox.additional_ips) if ip)
            retry.extend(await self._sync_containers(rec, pod))
        elif sandbox is not None:
            retry.append(CONFIG_RETRY)
        state = self._with_probes(rec, pod, await self._runtime_state(rec))
        status = podstatus.generate_pod_status(pod, state, now=self.clock.now(), host_ips=self.host_ips(),
                                               runtime_name=self.runtime_name)
        await self.status.set_status(pod, status)
        if status["phase"] in TERMINAL_PHASES:
            self._start_kill(rec, _spec_grace(pod))
            return
        if retry:
            self._requeue(rec.key, min(retry))

    async def _sync_deleting(self, rec: PodRecord, pod: Mapping[str, Any]) -> None:
        if not rec.killed:
            meta = pod.get("metadata") or {}
            grace = meta.get("deletionGracePeriodSeconds")
            self._start_kill(rec, float(grace) if grace is not None else _spec_grace(pod))
            return
        state = await self._runtime_state(rec)
        status = podstatus.generate_pod_status(pod, state, now=self.clock.now(), host_ips=self.host_ips(),
                                               runtime_name=self.runtime_name, terminal=True)
        await self.status.set_status(pod, status)
        # As upstream, the pod leaves the API only once its resources are reclaimed: a client that
        # waited for the deletion (kubectl delete --wait) finds no sandbox or mount left behind.
        await self._reclaim(rec)
        await self.status.delete_pod(pod)
        self._forget(rec)

    async def _sync_finished(self, rec: PodRecord, pod: Mapping[str, Any]) -> None:
        if not rec.killed:
            self._start_kill(rec, _spec_grace(pod))
            return
        state = await self._runtime_state(rec)
        status = podstatus.generate_pod_status(pod, state, now=self.clock.now(), host_ips=self.host_ips(),
                                               runtime_name=self.runtime_name, terminal=True)
        await self.status.set_status(pod, status)

    async def _sync_removed(self, rec: PodRecord) -> None:
        if not rec.killed:
            if rec.kill_task is None:
                meta = rec.pod.get("metadata") or {}
                grace = meta.get("deletionGracePeriodSeconds")
                self._start_kill(rec, float(grace) if grace is not None else _spec_grace(rec.pod))
            return
        await self._cleanup(rec)

    # ---- sandbox and containers -------------------------------------------------------------------

    async def _ensure_sandbox(self, rec: PodRecord, pod: Mapping[str, Any]) -> PodSandboxStatus | None:
        if rec.sandbox_id:
            try:
                sb = await self.runtime.pod_sandbox_status(rec.sandbox_id)
                if sb.state is SandboxState.READY:
                    return sb
            except NotFoundError:
                pass
            # The sandbox died under the pod: upstream starts a new one and every container again.
            await self.runtime.remove_pod_sandbox(rec.sandbox_id)
            self._by_sandbox.pop(rec.sandbox_id, None)
            rec.sandbox_id = ""
        config = _sandbox_config(pod, rec.uid, rec.sandbox_attempt + 1)
        try:
            sid = await self.runtime.run_pod_sandbox(config)
        except Exception as e:  # reported on the pod, then retried by the queue
            self._event(pod, WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
            raise
        rec.sandbox_id, rec.sandbox_attempt, rec.sandbox_config = sid, config.attempt, config
        self._by_sandbox[sid] = rec.key
        return await self.runtime.pod_sandbox_status(sid)

    async def _adopt(self, rec: PodRecord, pod: Mapping[str, Any]) -> None:
        """Carry on with the sandbox and containers a previous kubelet started for this pod (found by
        the runtime's pod uid labels) instead of starting new ones: the processes, their restart
        counts and start times stay as they were, as upstream rebuilds pod state from the runtime."""
        async with self._adopt_lock:
            if self._adoptable is None:
                self._adoptable = await self._list_adoptable()
        found = self._adoptable.pop(rec.uid, None)
        if found is None:
            return
        sandboxes, containers = found
        newest = max(sandboxes, key=lambda s: s.attempt, default=None)
        if newest is not None:
            rec.sandbox_attempt = newest.attempt
            if newest.state is SandboxState.READY:
                rec.sandbox_id = newest.id
                rec.sandbox_config = _sandbox_config(pod, rec.uid, newest.attempt)
                self._by_sandbox[newest.id] = rec.key
        by_name: dict[str, list[ContainerStatus]] = {}
        for c in containers:
            by_name.setdefault(c.name, []).append(c)
        for name, found_instances in by_name.items():
            found_instances.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
            rec.containers[name] = [c.id for c in found_instances[:KEEP_INSTANCES]]
        log.info("node %s: adopted pod %s (sandbox %s, %d containers)", self.node_name, rec.key,
                 rec.sandbox_id[:12] or "none", sum(len(ids) for ids in rec.containers.values()))

    async def _list_adoptable(self) -> dict[str, tuple[list[PodSandboxStatus], list[ContainerStatus]]]:
        out: dict[str, tuple[list[PodSandboxStatus], list[ContainerStatus]]] = {}
        for sb in await self.runtime.list_pod_sandbox():
            if sb.uid:
                out.setdefault(sb.uid, ([], []))[0].append(sb)
        for c in await self.runtime.list_containers():
            uid = c.labels.get("io.kubernetes.pod.uid", "")
            if uid:
                out.setdefault(uid, ([], []))[1].append(c)
        return out

    async def _volumes_ready(self, rec: PodRecord, pod: Mapping[str, Any]) -> bool:
        """Volumes set up (and configMap/secret contents refreshed) before any container starts;
        a failure is a FailedMount event per volume and a retry, as upstream's volume manager."""
        cfg = self.configurator
        if cfg is None:
            return True
        if not rec.isolation_reported:
            rec.isolation_reported = True
            message = cfg.not_isolated_warning(pod)
            if message:
                self._event(pod, WARNING, "VolumesNotIsolated", message)
        try:
            await cfg.setup_volumes(pod)
        except VolumeError as e:
            for message in e.messages:
                self._event(pod, WARNING, "FailedMount", message)
            return False
        return True

    async def _sync_containers(self, rec: PodRecord, pod: Mapping[str, Any]) -> list[float]:
        """Start or restart what should run; returns when a held-back restart may be retried."""
        spec = pod.get("spec") or {}
        policy = spec.get("restartPolicy") or "Always"
        retry: list[float] = []
        for c in spec.get("initContainers") or []:
            sidecar = is_restartable_init(c)
            latest = await self._latest(rec, c["name"])
            if latest is None or latest.state is ContainerState.CREATED:
                await self._start(rec, pod, c, SIDECAR if sidecar else INIT, latest)
                if not sidecar:
                    return retry
                continue
            if latest.state is ContainerState.RUNNING:
                if sidecar:
                    self._kill_if_unhealthy(rec, pod, c, SIDECAR, latest, policy)
                    continue
                return retry
            if latest.state is ContainerState.EXITED:
                if not sidecar and latest.exit_code == 0:
                    continue
                if not sidecar and policy == "Never":
                    return retry  # the pod has failed (its phase says so)
                await self._restart(rec, pod, c, SIDECAR if sidecar else INIT, latest, retry)
                if not sidecar:
                    return retry
        for c in spec.get("containers") or []:
            latest = await self._latest(rec, c["name"])
            if latest is None or latest.state is ContainerState.CREATED:
                await self._start(rec, pod, c, REGULAR, latest)
            elif latest.state is ContainerState.EXITED:
                if latest.id in rec.restart_after_kill or \
                        should_restart(container_restart_policy(c, policy), latest.exit_code):
                    await self._restart(rec, pod, c, REGULAR, latest, retry)
                else:
                    rec.waiting.pop(c["name"], None)
            elif latest.state is ContainerState.RUNNING:
                rec.waiting.pop(c["name"], None)
                self._kill_if_unhealthy(rec, pod, c, REGULAR, latest, policy)
        return retry

    async def _restart(self, rec: PodRecord, pod: Mapping[str, Any], c: Mapping[str, Any], kind: str,
                       latest: ContainerStatus, retry: list[float]) -> None:
        meta = pod.get("metadata") or {}
        key = CrashLoopBackOff.key(rec.uid, c["name"], str(c.get("image", "")))
        gate = latest
        if latest.id in rec.restart_after_kill:
            # Upstream starts a container it killed for a failed probe in the same sync, judging
            # the backoff by the instance that exited before it: none means at once.
            before = await self._exited_before(rec, c["name"], latest.id)
            if before is None:
                await self._start(rec, pod, c, kind, latest)
                return
            gate = before
        finished = self._monotonic_of(gate.finished_at)
        label = f"{meta.get('name')}_{meta.get('namespace')}({rec.uid})"
        decision = self.backoff.decide(key, finished, c["name"], label)
        if not decision.restart:
            if rec.waiting.get(c["name"], ("",))[0] != "CrashLoopBackOff":
                self._event(pod, WARNING, "BackOff",
                            f"Back-off restarting failed container {c['name']} in pod {label}", c["name"], kind)
            rec.waiting[c["name"]] = ("CrashLoopBackOff", decision.message)
            retry.append(max(decision.retry_in, 0.001))
            return
        await self._start(rec, pod, c, kind, latest)

    async def _start(self, rec: PodRecord, pod: Mapping[str, Any], c: Mapping[str, Any], kind: str,
                     previous: ContainerStatus | None) -> None:
        name, image = c["name"], str(c.get("image", ""))
        if previous is not None:
            rec.restart_after_kill.discard(previous.id)
        if previous is not None and previous.state is ContainerState.CREATED:
            await self.runtime.start_container(previous.id)
            self._event(pod, NORMAL, "Started", f"Started container {name}", name, kind)
            rec.waiting.pop(name, None)
            return
        if not await self._pull(rec, pod, c, kind):
            return
        meta = pod.get("metadata") or {}
        attempt = previous.attempt + 1 if previous is not None else 0
        labels = {"io.kubernetes.container.name": name, "io.kubernetes.pod.name": meta.get("name", ""),
                  "io.kubernetes.pod.namespace": meta.get("namespace", ""), "io.kubernetes.pod.uid": rec.uid}
        annotations = {"io.kubernetes.container.restartCount": str(attempt), CONTAINER_TYPE: kind,
                       "io.kubernetes.pod.terminationGracePeriod": str(_spec_grace(pod))}
        assert rec.sandbox_config is not None
        identity = securitycontext.effective(pod, c)
        user: dict[str, Any] = {"run_as_user": identity.run_as_user, "run_as_group": identity.run_as_group,
                                "supplemental_groups": identity.supplemental_groups}
        try:
            if identity.run_as_non_root:
                await self._verify_non_root(pod, c, identity)
            if self.configurator is not None:
                inputs = await self.configurator.container_inputs(pod, c, rec.pod_ips)
                config = ContainerConfig(
                    name=name, image=image, attempt=attempt, command=inputs.command, args=inputs.args,
                    working_dir=c.get("workingDir") or "", envs=inputs.envs, mounts=tuple(inputs.mounts),
                    labels=labels, annotations=annotations, stdin=bool(c.get("stdin")),
                    stdin_once=bool(c.get("stdinOnce")), tty=bool(c.get("tty")), cpu_millis=inputs.cpu_millis,
                    memory_limit_bytes=inputs.memory_limit_bytes, **user)
            else:
                config = ContainerConfig(
                    name=name, image=image, attempt=attempt, command=tuple(c.get("command") or ()),
                    args=tuple(c.get("args") or ()), working_dir=c.get("workingDir") or "",
                    envs={e["name"]: str(e.get("value", "")) for e in c.get("env") or [] if "valueFrom" not in e},
                    labels=labels, annotations=annotations,
                    stdin=bool(c.get("stdin")), stdin_once=bool(c.get("stdinOnce")), tty=bool(c.get("tty")), **user)
            cid = await self.runtime.create_container(rec.sandbox_id, config, rec.sandbox_config)
        except CreateContainerConfigError as e:
            # Upstream: waiting reason CreateContainerConfigError, a "Failed" event, retried later.
            rec.waiting[name] = ("CreateContainerConfigError", str(e))
            self._event(pod, WARNING, "Failed", f"Error: {e}", name, kind)
            self._requeue(rec.key, CONFIG_RETRY)
            return
        self._event(pod, NORMAL, "Created", f"Created container: {name}", name, kind)
        ids = [cid, *rec.containers.get(name, [])]
        for old in ids[KEEP_INSTANCES:]:
            await self.runtime.remove_container(old)
        rec.containers[name] = ids[:KEEP_INSTANCES]
        rec.waiting.pop(name, None)
        try:
            await self.runtime.start_container(cid)
        except RuntimeFailure as e:
            # The runtime leaves the instance exited (StartError); restarts go through the backoff.
            self._event(pod, WARNING, "Failed", f"Error: {e}", name, kind)
            return
        self._event(pod, NORMAL, "Started", f"Started container {name}", name, kind)

    async def _verify_non_root(self, pod: Mapping[str, Any], c: Mapping[str, Any],
                               identity: securitycontext.Identity) -> None:
        """upstream's verifyRunAsNonRoot, against the user the runtime says the image runs as."""
        image = await self.runtime.image_status(str(c.get("image", ""))) if identity.run_as_user is None else None
        message = securitycontext.non_root_violation(pod, c, identity, image.uid if image else None,
                                                     image.username if image else "")
        if message:
            raise CreateContainerConfigError(message)

    async def _pull(self, rec: PodRecord, pod: Mapping[str, Any], c: Mapping[str, Any], kind: str) -> bool:
        if not getattr(self.runtime, "uses_images", True):
            return True
        name, image = c["name"], str(c.get("image", ""))
        policy = c.get("imagePullPolicy") or ("Always" if _latest_tag(image) else "IfNotPresent")
        present = await self.runtime.image_status(image) is not None
        if policy == "Never" and not present:
            message = f'Container image "{image}" is not present with pull policy of Never'
            rec.waiting[name] = ("ErrImageNeverPull", message)
            self._event(pod, WARNING, "ErrImageNeverPull", message, name, kind)
            return False
        if present and policy != "Always":
            self._event(pod, NORMAL, "Pulled", f'Container image "{image}" already present on machine', name, kind)
            return True
        self._event(pod, NORMAL, "Pulling", f'Pulling image "{image}"', name, kind)
        started = self.clock.monotonic()
        try:
            await self.runtime.pull_image(image)
        except ImagePullError as e:
            rec.waiting[name] = (e.reason, str(e))
            self._event(pod, WARNING, "Failed", f'Failed to pull image "{image}": {e}', name, kind)
            return False
        took = self.clock.monotonic() - started
        self._event(pod, NORMAL, "Pulled",
                    f'Successfully pulled image "{image}" in {go_seconds(took)} ({go_seconds(took)} including waiting)',
                    name, kind)
        return True

    # ---- stopping --------------------------------------------------------------------------------

    def _start_kill(self, rec: PodRecord, grace: float) -> None:
        if self.prober is not None:
            self.prober.remove_pod(rec.uid)
        if rec.kill_task is None and not rec.killed:
            rec.kill_task = asyncio.get_running_loop().create_task(
                self._kill(rec, grace), name=f"kill pod {rec.key} on {self.node_name}")

    async def _kill(self, rec: PodRecord, grace: float) -> None:
        try:
            stops = []
            for name, ids in rec.containers.items():
                try:
                    st = await self.runtime.container_status(ids[0])
                except NotFoundError:
                    continue
                if st.state is ContainerState.RUNNING:
                    self._event(rec.pod, NORMAL, "Killing", f"Stopping container {name}", name, _kind_of(st))
                    stops.append(self.runtime.stop_container(st.id, grace))
            await asyncio.gather(*stops)
            if rec.sandbox_id:
                await self.runtime.stop_pod_sandbox(rec.sandbox_id)
            rec.killed = True
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the next sync starts the kill again
            log.warning("node %s: stopping pod %s failed: %s", self.node_name, rec.key, e)
        finally:
            rec.kill_task = None
            self._requeue(rec.key, 0.0)

    async def _cleanup(self, rec: PodRecord) -> None:
        await self._reclaim(rec)
        self._forget(rec)

    async def _reclaim(self, rec: PodRecord) -> None:
        """Stop probing, remove the sandbox, tear the volumes down."""
        if self.prober is not None:
            self.prober.remove_pod(rec.uid)
        for task in list(rec.probe_kills.values()):
            task.cancel()
        if rec.sandbox_id:
            await self.runtime.remove_pod_sandbox(rec.sandbox_id)
            self._by_sandbox.pop(rec.sandbox_id, None)
        if self.configurator is not None:
            try:
                await self.configurator.teardown(rec.uid)
            except OSError as e:  # a busy mount: the pod is gone from the API either way
                log.warning("tearing down volumes of pod %s: %s", rec.key, e)

    def _forget(self, rec: PodRecord) -> None:
        self.backoff.forget_pod(rec.uid)
        self.status.forget(rec.uid)
        if self.records.get(rec.key) is rec:
            del self.records[rec.key]
        # A new pod with the same name may be waiting for this one to be gone.
        self._requeue(rec.key, 0.0)

    # ---- probes --------------------------------------------------------------------------------------

    def _with_probes(self, rec: PodRecord, pod: Mapping[str, Any], state: PodRuntimeState) -> PodRuntimeState:
        """Hand the probe workers the pod's current containers; fold in what they judged."""
        if self.prober is None:
            return state
        latest = {name: found[0] for name, found in state.containers.items() if found}
        if (pod.get("spec") or {}).get("hostNetwork"):
            ips = self.host_ips()
            pod_ip = ips[0] if ips else ""
        else:
            pod_ip = state.sandbox.ip if state.sandbox is not None else ""
        ready, started = self.prober.update_pod(rec.key, pod, latest, pod_ip)
        if not ready and not started:
            return state
        return replace(state, ready=ready, started=started)

    def _kill_if_unhealthy(self, rec: PodRecord, pod: Mapping[str, Any], c: Mapping[str, Any], kind: str,
                           latest: ContainerStatus, policy: str) -> None:
        if self.prober is None or latest.id in rec.probe_kills:
            return
        failed = self.prober.unhealthy(c, latest.id)
        if failed is None:
            return
        name = c["name"]
        message = f"Container {name} failed {failed.value.lower()} probe"
        if container_restart_policy(c, policy) != NEVER:
            message += ", will be restarted"
            rec.restart_after_kill.add(latest.id)
        self._event(pod, NORMAL, "Killing", message, name, kind)
        grace = _probe_kill_grace(pod, c, failed)
        rec.probe_kills[latest.id] = asyncio.get_running_loop().create_task(
            self._kill_container(rec, latest.id, grace), name=f"kill container {latest.id} of {rec.key}")

    async def _kill_container(self, rec: PodRecord, container_id: str, grace: float) -> None:
        try:
            await self.runtime.stop_container(container_id, grace)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the container still fails its probe: the next sync retries
            log.warning("node %s: stopping container %s of %s failed: %s", self.node_name, container_id, rec.key, e)
        finally:
            rec.probe_kills.pop(container_id, None)
            self._requeue(rec.key, 0.0)

    async def _exited_before(self, rec: PodRecord, name: str, container_id: str) -> ContainerStatus | None:
        ids = rec.containers.get(name, [])
        for cid in ids[ids.index(container_id) + 1:] if container_id in ids else []:
            try:
                st = await self.runtime.container_status(cid)
            except NotFoundError:
                continue
            return st if st.state is ContainerState.EXITED else None
        return None

    def _probe_event(self, pod: Mapping[str, Any], kind: str, reason: str, message: str, container: str) -> None:
        sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []}
        self._event(pod, kind, reason, message, container, SIDECAR if container in sidecars else REGULAR)

    # ---- reading the runtime -------------------------------------------------------------------------

    async def _latest(self, rec: PodRecord, name: str) -> ContainerStatus | None:
        for cid in rec.containers.get(name, []):
            try:
                return await self.runtime.container_status(cid)
            except NotFoundError:
                continue
        return None

    async def _runtime_state(self, rec: PodRecord) -> PodRuntimeState:
        sandbox = None
        if rec.sandbox_id:
            try:
                sandbox = await self.runtime.pod_sandbox_status(rec.sandbox_id)
            except NotFoundError:
                sandbox = None
        containers: dict[str, list[ContainerStatus]] = {}
        for name, ids in rec.containers.items():
            found = []
            for cid in ids:
                try:
                    found.append(await self.runtime.container_status(cid))
                except NotFoundError:
                    continue
            if found:
                containers[name] = found
        return PodRuntimeState(sandbox=sandbox, containers=containers, waiting=dict(rec.waiting))

    def _on_container_event(self, event: ContainerEvent) -> None:
        if event.type in (ContainerEventType.STOPPED, ContainerEventType.STARTED):
            key = self._by_sandbox.get(event.sandbox_id)
            # A start during the pod's own sync is that sync's doing, and it reads the runtime's
            # state after starting: another sync would find nothing to do. An exit always counts.
            if key is not None and not (event.type is ContainerEventType.STARTED and key in self._syncing):
                self._requeue(key, 0.0)

    def _monotonic_of(self, t: datetime | None) -> float:
        if t is None:
            return self.clock.monotonic()
        return self.clock.monotonic() - (self.clock.now() - t).total_seconds()

    def _event(self, pod: Mapping[str, Any], kind: str, reason: str, message: str, container: str = "",
               container_kind: str = REGULAR) -> None:
        if self.recorder is None:
            return
        path = ""
        if container:
            section = "initContainers" if container_kind in (INIT, SIDECAR) else "containers"
            path = f"spec.{section}{{{container}}}"
        ref = object_reference({"kind": "Pod", "apiVersion": "v1", **pod}, path)
        self.recorder.event(ref, kind, reason, message)


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))


def _sandbox_config(pod: Mapping[str, Any], uid: str, attempt: int) -> PodSandboxConfig:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    return PodSandboxConfig(
        name=meta.get("name", ""), namespace=meta.get("namespace", ""), uid=uid, attempt=attempt,
        hostname=spec.get("hostname") or meta.get("name", ""), host_network=bool(spec.get("hostNetwork")),
        labels=dict(meta.get("labels") or {}), annotations=dict(meta.get("annotations") or {}))


def _spec_grace(pod: Mapping[str, Any]) -> float:
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(grace) if grace is not None else float(DEFAULT_GRACE)


def _probe_kill_grace(pod: Mapping[str, Any], c: Mapping[str, Any], failed: ProbeType) -> float:
    """Upstream ``setTerminationGracePeriod``: a pod being deleted keeps its deletion grace; otherwise
    the failed probe's own ``terminationGracePeriodSeconds`` wins over the pod's."""
    grace = (pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
    if grace is not None:
        return float(grace)
    probe_grace = (c.get(failed.field) or {}).get("terminationGracePeriodSeconds")
    if probe_grace is not None:
        return float(probe_grace)
    return _spec_grace(pod)


def _kind_of(st: ContainerStatus) -> str:
    return st.annotations.get(CONTAINER_TYPE, REGULAR)


def _latest_tag(image: str) -> bool:
    """Upstream defaults imagePullPolicy to Always for ``:latest`` or untagged images."""
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.endswith(":latest")
