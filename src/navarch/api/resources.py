"""The resource registry: every kind the API server serves, declared in one table.

Adding a resource is one ``_r(...)`` line below: group/version/kind, plural, scope, short names,
categories and subresources. Everything else (routes, discovery, OpenAPI, storage keys, tables,
validation by schema) is derived from it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str
    group: str
    version: str
    kind: str
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    # Whether ``status`` is split from the main resource (status subresource).
    has_status: bool = False
    singular: str = ""
    # Types that are only ever POSTed and answered (reviews): not stored, not listed.
    virtual: bool = False
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @functools.cached_property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @functools.cached_property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    def subresource(self, name: str) -> Subresource | None:
        for s in self.subresources:
            if s.name == name:
                return s
        return None

    def storage_prefix(self) -> str:
        """``/registry/<group or core>/<plural>/`` under which every object of this resource lives."""
        return f"/registry/{self.group or 'core'}/{self.plural}/"

    def storage_key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix()}{namespace}/{name}"
        return f"{self.storage_prefix()}{name}"


def _status(group: str, version: str, kind: str) -> Subresource:
    return Subresource("status", group, version, kind, ("get", "patch", "update"))


def _scale() -> Subresource:
    return Subresource("scale", "autoscaling", "v1", "Scale", ("get", "patch", "update"))


def _r(group: str, version: str, kind: str, plural: str, namespaced: bool = True, *,
       short: tuple[str, ...] = (), cats: tuple[str, ...] = (), status: bool = False,
       scale: bool = False, subs: tuple[Subresource, ...] = (), verbs: tuple[str, ...] = ALL_VERBS,
       virtual: bool = False) -> ResourceInfo:
    all_subs: list[Subresource] = []
    if status:
        all_subs.append(_status(group, version, kind))
    if scale:
        all_subs.append(_scale())
    all_subs.extend(subs)
    return ResourceInfo(group, version, kind, plural, namespaced, short, cats, verbs,
                        tuple(all_subs), status, virtual=virtual)


_ALL = ("all",)
_POD_SUBS = (
    Subresource("binding", "", "v1", "Binding", ("create",)),
    Subresource("eviction", "policy", "v1", "Eviction", ("create",)),
    Subresource("ephemeralcontainers", "", "v1", "Pod", ("get", "patch", "update")),
    Subresource("log", "", "v1", "Pod", ("get",)),
    Subresource("exec", "", "v1", "PodExecOptions", ("create", "get")),
    Subresource("attach", "", "v1", "PodAttachOptions", ("create", "get")),
    Subresource("portforward", "", "v1", "PodPortForwardOptions", ("create", "get")),
    Subresource("proxy", "", "v1", "PodProxyOptions", ("create", "delete", "get", "patch", "update")),
)

RESOURCES: tuple[ResourceInfo, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", False, short=("ns",), status=True,
       subs=(Subresource("finalize", "", "v1", "Namespace", ("update",)),),
       verbs=NO_COLLECTION_VERBS),
    _r("", "v1", "Pod", "pods", short=("po",), cats=_ALL, status=True, subs=_POD_SUBS),
    _r("", "v1", "Node", "nodes", False, short=("no",), status=True,
       subs=(Subresource("proxy", "", "v1", "NodeProxyOptions", ("create", "delete", "get", "patch", "update")),)),
    _r("", "v1", "Service", "services", short=("svc",), cats=_ALL, status=True,
       subs=(Subresource("proxy", "", "v1", "ServiceProxyOptions", ("create", "delete", "get", "patch", "update")),),
       verbs=NO_COLLECTION_VERBS + ("deletecollection",)),
    _r("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",),
       subs=(Subresource("token", "authentication.k8s.io", "v1", "TokenRequest", ("create",)),)),
    _r("", "v1", "Event", "events", short=("ev",)),
    _r("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _r("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), status=True),
    _r("", "v1", "PersistentVolume", "persistentvolumes", False, short=("pv",), status=True),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), status=True),
    _r("", "v1", "ReplicationController", "replicationcontrollers", short=("rc",), cats=_ALL,
       status=True, scale=True),
    _r("", "v1", "PodTemplate", "podtemplates"),
    # apps/v1
    _r("apps", "v1", "Deployment", "deployments", short=("deploy",), cats=_ALL, status=True, scale=True),
    _r("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), cats=_ALL, status=True, scale=True),
    _r("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), cats=_ALL, status=True, scale=True),
    _r("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), cats=_ALL, status=True),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # batch/v1
    _r("batch", "v1", "Job", "jobs", cats=_ALL, status=True),
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), cats=_ALL, status=True),
    # others
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _r("events.k8s.io", "v1", "Event", "events", short=("ev",)),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), status=True),
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), status=True),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, short=("sc",)),
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, short=("pc",)),
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",),
       cats=_ALL, status=True),
    _r("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",),
       cats=_ALL, status=True),
    _r("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False,
       short=("csr",), status=True,
       subs=(Subresource("approval", "certificates.k8s.io", "v1", "CertificateSigningRequest",
                         ("get", "patch", "update")),)),
    # Reviews: POST-only, answered and never stored.
    _r("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False, verbs=("create",), virtual=True),
    _r("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=("create",),
       virtual=True),
    _r("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False,
       verbs=("create",), virtual=True),
    _r("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
       verbs=("create",), virtual=True),
    _r("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False,
       verbs=("create",), virtual=True),
    _r("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True,
       verbs=("create",), virtual=True),
)

# Preferred version first, per group, for discovery.
GROUP_ORDER = (
    "", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "autoscaling",
    "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "scheduling.k8s.io",
)


class Registry:
    """Lookups over ``RESOURCES``: by URL parts, by kind, by short name."""

    def __init__(self, resources: tuple[ResourceInfo, ...] = RESOURCES) -> None:
        self.resources = resources
        self._by_gvr = {(r.group, r.version, r.plural): r for r in resources}
        self._by_gvk = {(r.group, r.version, r.kind): r for r in resources}
        self.groups: dict[str, list[str]] = {}
        for r in resources:
            versions = self.groups.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
        # Preferred version first: the highest stable one.
        for g, versions in self.groups.items():
            versions.sort(key=_version_rank)
        # Short-name lookups (client.resolve), memoised: the resources never change after this.
        self.by_name_memo: dict[str, ResourceInfo | None] = {}
        # (group, plural) -> the first real (non-virtual) version listed, for storage_of.
        self._first_by_gp: dict[tuple[str, str], ResourceInfo] = {}
        for r in resources:
            if not r.virtual:
                self._first_by_gp.setdefault((r.group, r.plural), r)

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        return self._by_gvk.get((group, version, kind))

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        return [r for r in self.resources if r.group == group and r.version == version]

    def ordered_groups(self) -> list[str]:
        known = [g for g in GROUP_ORDER if g in self.groups]
        return known + sorted(g for g in self.groups if g not in known)

    def preferred_version(self, group: str) -> str:
        return self.groups[group][0]

    def storage_resource(self, r: ResourceInfo) -> ResourceInfo:
        """The ResourceInfo whose storage key prefix serves ``r`` (versions of one resource share storage;
        events.k8s.io Events are core Events in another shape, as upstream stores them)."""
        shared = _SHARED_STORAGE.get((r.group, r.plural))
        if shared is not None:
            return self._by_gvr[shared]
        return self._by_gvr.get((r.group, self.preferred_version(r.group), r.plural), r)


    def storage_of(self, group: str, plural: str) -> ResourceInfo | None:
        """The storage ResourceInfo of a resource named without a version (admission's lookups)."""
        r = self._first_by_gp.get((group, plural))
        return self.storage_resource(r) if r is not None else None


_SHARED_STORAGE = {("events.k8s.io", "events"): ("", "v1", "events")}


def _version_rank(v: str) -> tuple[int, int, int]:
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    return (stage, -major, -int(m.group(3) or 0))


REGISTRY = Registry()
