"""``KubeletHost``: runs one or thousands of kubelets in one process over shared machinery.

What is shared, and why:
- one client and one pod informer: upstream gives each kubelet a pod watch filtered by
  ``spec.nodeName``; thousands of watches from one process would cost thousands of connections, so
  a host with many nodes watches all pods once and routes each event by ``spec.nodeName`` (a host
  with one node keeps upstream's field selector); the same holds for Nodes;
- one pod work queue with a bounded pool of workers: each key is (node, pod key), so every pod is
  synced by one worker at a time (upstream's per-pod goroutine) without one task per pod;
- one heartbeat work queue with its own pool for registration, Lease renewals and node status
  rounds: each node's next round is a timer on the queue (``add_after``), so idle nodes cost no
  task, concurrency towards the API server is bounded, and renewals are spread over the interval
  (the first one at a random point of it, then every interval with upstream's 4% jitter).

``pause(name)`` stops a node's heartbeats (Lease and status) as if its kubelet had lost the API
server; with ``pods=True`` its pod syncs are held too. ``resume(name)`` restarts them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Mapping

from navarch.client.rest import Client
from navarch.kubelet.kubelet import Kubelet
from navarch.machinery.cache import final_state, object_key
from navarch.machinery.clock import Clock, RealClock
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.indexer import NODE_INDEX
from navarch.machinery.workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)

REGISTER, LEASE, STATUS = "register", "lease", "status"
LEASE_JITTER = 0.04
# Upstream's lease controller retries a failed renewal after 200 ms, doubling up to 7 s.
RETRY_INITIAL, RETRY_MAX = 0.2, 7.0


class KubeletHost:
    def __init__(self, client: Client, *, factory: SharedInformerFactory | None = None, clock: Clock | None = None,
                 single_node: str | None = None, pod_workers: int = 16, heartbeat_workers: int = 8,
                 seed: int | None = None, services: bool = False) -> None:
        """``single_node``: the one node this host will run (filters the watches as upstream);
        None watches everything and routes by node name. ``services``: also keep a Service
        informer, for the service environment variables of real nodes' containers."""
        self.client = client
        self.clock = clock or RealClock()
        self.factory = factory or SharedInformerFactory(client, clock=self.clock)
        self.pod_workers = pod_workers
        self.heartbeat_workers = heartbeat_workers
        self.kubelets: dict[str, Kubelet] = {}
        self.paused: dict[str, bool] = {}  # name -> whether pod syncs are held too
        pod_selector = f"spec.nodeName={single_node}" if single_node else None
        node_selector = f"metadata.name={single_node}" if single_node else None
        self.pod_informer = self.factory.informer("pods", field_selector=pod_selector)
        self.node_informer = self.factory.informer("nodes", field_selector=node_selector)
        self.pod_informer.add_event_handler(self._on_pod, self._on_pod_update, self._on_pod)
        self.service_informer = self.factory.informer("services") if services else None
        self.pod_queue: WorkQueue[tuple[str, str]] = WorkQueue("kubelet-pods", clock=self.clock)
        self.heartbeat_queue: WorkQueue[tuple[str, str]] = WorkQueue("kubelet-heartbeats", clock=self.clock)
        self._failures: dict[tuple[str, str], int] = {}
        self._random = random.Random(seed)
        self._registered = asyncio.Event()
        self._pending_registration: set[str] = set()

    # ---- membership -------------------------------------------------------------------------------

    def add(self, kubelet: Kubelet) -> None:
        """Host a kubelet; it registers as soon as a heartbeat worker is free."""
        name = kubelet.name
        if name in self.kubelets:
            raise ValueError(f"node {name} is already hosted")
        self.kubelets[name] = kubelet
        kubelet.attach(lambda key, delay: self._requeue_pod(name, key, delay),
                       lambda: self.node_informer.indexer.get(name))
        if self.service_informer is not None:
            indexer = self.service_informer.indexer
            kubelet.use_services(lambda: indexer.list())
        self._pending_registration.add(name)
        self._registered.clear()
        self.heartbeat_queue.add((REGISTER, name))

    def pause(self, name: str, *, pods: bool = False) -> None:
        if name not in self.kubelets:
            raise KeyError(f"no node {name} in this host")
        self.paused[name] = pods
        log.info("node %s: heartbeats paused%s", name, " (and pod syncs)" if pods else "")

    def resume(self, name: str) -> None:
        if self.paused.pop(name, None) is None:
            return
        log.info("node %s: heartbeats resumed", name)
        kubelet = self.kubelets[name]
        if kubelet.registered:
            self.heartbeat_queue.add((LEASE, name))
            self.heartbeat_queue.add((STATUS, name))
        for pod in self._pods_of(name):
            self.pod_queue.add((name, object_key(pod)))

    async def wait_registered(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._registered.wait()
        except TimeoutError:
            return False
        return True

    # ---- running ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: informers, then the worker pools. Stopping leaves runtimes alone (a
        stopped kubelet never kills its containers)."""
        self.factory.start()
        tasks = [asyncio.create_task(self._heartbeat_worker(), name=f"kubelet-heartbeat-{i}")
                 for i in range(self.heartbeat_workers)]
        try:
            await self.factory.wait_for_cache_sync()
            for name, kubelet in self.kubelets.items():
                if kubelet.registered:
                    self._enqueue_node_pods(name)
            tasks += [asyncio.create_task(self._pod_worker(), name=f"kubelet-pods-{i}")
                      for i in range(self.pod_workers)]
            await asyncio.gather(*tasks)
        finally:
            self.pod_queue.shutdown()
            self.heartbeat_queue.shutdown()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for kubelet in self.kubelets.values():
                kubelet.detach()

    # ---- routing ----------------------------------------------------------------------------------

    def _on_pod(self, obj: Any) -> None:
        pod = final_state(obj)
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node in self.kubelets:
            self.pod_queue.add((node, object_key(obj)))

    def _on_pod_update(self, old: Any, new: Any) -> None:
        # A node's own status write comes back on the watch; the sync that wrote it already knows
        # everything in it, so it starts no other (upstream syncs a pod on changes of its spec or
        # metadata, never on a status-only update).
        node = (new.get("spec") or {}).get("nodeName")
        kubelet = self.kubelets.get(node) if node else None
        if kubelet is not None and kubelet.status_manager.is_own_write(old, new):
            return
        self._on_pod(new)

    def _requeue_pod(self, node: str, key: str, delay: float) -> None:
        self.pod_queue.add_after((node, key), delay)

    def _pods_of(self, node: str) -> list[Mapping[str, Any]]:
        return list(self.pod_informer.indexer.by_index(NODE_INDEX, node))

    def _enqueue_node_pods(self, node: str) -> None:
        for pod in self._pods_of(node):
            self.pod_queue.add((node, object_key(pod)))

    # ---- workers ----------------------------------------------------------------------------------

    async def _pod_worker(self) -> None:
        while True:
            try:
                item = await self.pod_queue.get()
            except ShutDown:
                return
            node, key = item
            try:
                kubelet = self.kubelets.get(node)
                if kubelet is None or not kubelet.registered:
                    continue  # registration enqueues the node's pods
                if self.paused.get(node):
                    continue  # resume enqueues them again
                pod = self._get_pod(key)
                if pod is not None and (pod.get("spec") or {}).get("nodeName") != node:
                    pod = None
                await kubelet.sync_pod(key, pod)
                self.pod_queue.forget(item)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retried with per-key backoff; never kills the worker
                log.warning("node %s: sync of pod %s failed (retry %d): %s", node, key,
                            self.pod_queue.num_requeues(item), f"{type(e).__name__}: {e}")
                self.pod_queue.add_rate_limited(item)
            finally:
                self.pod_queue.done(item)

    def _get_pod(self, key: str) -> Mapping[str, Any] | None:
        return self.pod_informer.indexer.get(key)

    async def _heartbeat_worker(self) -> None:
        while True:
            try:
                item = await self.heartbeat_queue.get()
            except ShutDown:
                return
            try:
                await self._heartbeat(item)
            finally:
                self.heartbeat_queue.done(item)

    async def _heartbeat(self, item: tuple[str, str]) -> None:
        kind, name = item
        kubelet = self.kubelets.get(name)
        if kubelet is None or (name in self.paused and kind != REGISTER):
            return
        cfg = kubelet.config
        try:
            if kind == REGISTER:
                await kubelet.register()
                self._pending_registration.discard(name)
                if not self._pending_registration:
                    self._registered.set()
                self.heartbeat_queue.add((LEASE, name))
                self.heartbeat_queue.add_after((STATUS, name), cfg.node_status_update_frequency)
                self._enqueue_node_pods(name)
                self._failures.pop(item, None)
                return
            if kind == LEASE:
                first = kubelet.lease.renewals == 0
                await kubelet.renew_lease()
                interval = cfg.lease_renew_interval
                # The first renewal after creation lands anywhere in the interval, so nodes that
                # registered together do not renew together ever after.
                delay = interval * self._random.random() if first else \
                    interval * (1 + LEASE_JITTER * self._random.random())
            else:
                await kubelet.update_node_status()
                delay = cfg.node_status_update_frequency
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a heartbeat failure is retried, never fatal
            n = self._failures.get(item, 0)
            self._failures[item] = n + 1
            retry = min(RETRY_INITIAL * 2 ** n, RETRY_MAX)
            log.log(logging.WARNING if n == 0 else logging.DEBUG, "node %s: %s failed (retrying in %.1fs): %s",
                    name, kind, retry, f"{type(e).__name__}: {e}")
            self.heartbeat_queue.add_after(item, retry)
            return
        self._failures.pop(item, None)
        self.heartbeat_queue.add_after(item, delay)
