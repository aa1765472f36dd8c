"""PodSecurity: the Pod Security Standards, chosen per namespace by its labels.

``pod-security.kubernetes.io/enforce`` (and ``warn``, ``audit``, each with a ``-version``) name a
level: ``privileged`` (anything), ``baseline`` (no known privilege escalations) or ``restricted``
(hardened). A pod breaking the enforce level is refused (403), one breaking the warn level is let
through with a warning; workload templates (deployments, jobs, ...) are only warned about, since
their pods are checked when created. The checks, their order and their messages are upstream's
(``k8s.io/pod-security-admission/policy``), so kubectl prints what it prints against Kubernetes.
Audit annotations are not written: navarch has no audit log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from navarch.api import errors
from navarch.api.podtemplates import template_of
from navarch.apiserver.admission import Attributes, forbidden
from navarch.apiserver.admission.access import access_of

NAME = "PodSecurity"
PREFIX = "pod-security.kubernetes.io/"
LEVELS = ("privileged", "baseline", "restricted")
MODES = ("enforce", "audit", "warn")
# Checks newer than this are those of "latest" too; the policy versions navarch knows end here.
LATEST = (1, 33)

Obj = Mapping[str, Any]
Violation = tuple[str, str]  # (reason, detail)


@dataclass(frozen=True)
class LevelVersion:
    level: str
    version: tuple[int, int] | None  # None: latest

    def __str__(self) -> str:
        return f"{self.level}:" + ("latest" if self.version is None else f"v{self.version[0]}.{self.version[1]}")


# ----------------------------------------------------------------------------- helpers

def _join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, Mapping):
                yield c


def _sc(o: Obj) -> Obj:
    return o.get("securityContext") or {}


def _named(kind: str, names: list[str]) -> str:
    return f"{_plural(kind, kind + 's', len(names))} {_join_quote(names)}"


def _setters(pod_bad: bool, containers: list[str]) -> list[str]:
    out = ["pod"] if pod_bad else []
    if containers:
        out.append(_named("container", containers))
    return out


def _user_namespaced(spec: Obj) -> bool:
    return spec.get("hostUsers") is False


# ----------------------------------------------------------------------------- baseline checks

def _app_armor(meta: Obj, spec: Obj) -> Violation | None:
    bad = []
    for k, v in sorted(((meta.get("annotations") or {})).items()):
        if k.startswith("container.apparmor.security.beta.kubernetes.io/") and v and \
                v != "runtime/default" and not v.startswith("localhost/"):
            bad.append(f'{k}="{v}"')
    pod_type = ((_sc(spec).get("appArmorProfile") or {}).get("type"))
    if pod_type == "Unconfined":
        bad.append('pod must not set securityContext.appArmorProfile.type to "Unconfined"')
    names = [c.get("name", "") for c in _containers(spec)
             if (_sc(c).get("appArmorProfile") or {}).get("type") == "Unconfined"]
    if names:
        bad.append(f'{_named("container", names)} must not set securityContext.appArmorProfile.type to '
                   '"Unconfined"')
    if bad:
        return (_plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad)), ", ".join(bad))
    return None


def _host_namespaces(meta: Obj, spec: Obj) -> Violation | None:
    used = sorted(k for k in ("hostIPC", "hostNetwork", "hostPID") if spec.get(k))
    return ("host namespaces", ", ".join(used)) if used else None


def _host_ports(meta: Obj, spec: Obj) -> Violation | None:
    names: list[str] = []
    ports: set[str] = set()
    for c in _containers(spec):
        found = [str(p["hostPort"]) for p in c.get("ports") or [] if isinstance(p, Mapping) and p.get("hostPort")]
        if found:
            names.append(c.get("name", ""))
            ports.update(found)
    if not names:
        return None
    return ("hostPort", f"{_named('container', names)} {_plural('uses', 'use', len(names))} "
                        f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")


def _privileged(meta: Obj, spec: Obj) -> Violation | None:
    names = [c.get("name", "") for c in _containers(spec) if _sc(c).get("privileged") is True]
    return ("privileged", f"{_named('container', names)} must not set securityContext.privileged=true") \
        if names else None


def _proc_mount(meta: Obj, spec: Obj) -> Violation | None:
    if _user_namespaced(spec):
        return None
    names: list[str] = []
    kinds: set[str] = set()
    for c in _containers(spec):
        pm = _sc(c).get("procMount")
        if pm is not None and pm != "Default":
            names.append(c.get("name", ""))
            kinds.add(str(pm))
    if not names:
        return None
    return ("procMount", f"{_named('container', names)} must not set securityContext.procMount to "
                         f"{_join_quote(sorted(kinds))}")


_SELINUX_TYPES = ("", "container_t", "container_init_t", "container_kvm_t")


def _selinux(meta: Obj, spec: Obj) -> Violation | None:
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(opts: Obj) -> bool:
        ok = True
        if (opts.get("type") or "") not in _SELINUX_TYPES:
            bad_types.add(opts.get("type") or "")
            ok = False
        for k in ("user", "role"):
            if opts.get(k):
                flags[k] = True
                ok = False
        return ok

    pod_opts = _sc(spec).get("seLinuxOptions")
    pod_bad = isinstance(pod_opts, Mapping) and not valid(pod_opts)
    names = [c.get("name", "") for c in _containers(spec)
             if isinstance(_sc(c).get("seLinuxOptions"), Mapping) and not valid(_sc(c)["seLinuxOptions"])]
    setters = _setters(pod_bad, names)
    if not setters:
        return None
    data: list[str] = []
    if bad_types:
        data.append(f"{_plural('type', 'types', len(bad_types))} {_join_quote(sorted(bad_types))}")
        # Upstream mentions user and role only alongside a bad type; kept as is.
        if flags["user"]:
            data.append("user may not be set")
        if flags["role"]:
            data.append("role may not be set")
    return ("seLinuxOptions", f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: "
                              f"{'; '.join(data)}")


_SAFE_SYSCTLS = ("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                 "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start")


def _sysctls(meta: Obj, spec: Obj) -> Violation | None:
    bad = [s.get("name", "") for s in _sc(spec).get("sysctls") or []
           if isinstance(s, Mapping) and s.get("name") not in _SAFE_SYSCTLS]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def _host_process(meta: Obj, spec: Obj) -> Violation | None:
    def on(o: Obj) -> bool:
        return (_sc(o).get("windowsOptions") or {}).get("hostProcess") is True

    setters = _setters(on(spec), [c.get("name", "") for c in _containers(spec) if on(c)])
    if not setters:
        return None
    return ("hostProcess", f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true")


_DEFAULT_CAPABILITIES = ("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")


def _capabilities_baseline(meta: Obj, spec: Obj) -> Violation | None:
    names: list[str] = []
    caps: set[str] = set()
    for c in _containers(spec):
        added = [str(x) for x in ((_sc(c).get("capabilities") or {}).get("add") or [])]
        bad = [x for x in added if x not in _DEFAULT_CAPABILITIES]
        if bad:
            names.append(c.get("name", ""))
            caps.update(bad)
    if not names:
        return None
    return ("non-default capabilities", f"{_named('container', names)} must not include "
                                        f"{_join_quote(sorted(caps))} in securityContext.capabilities.add")


def _host_path_volumes(meta: Obj, spec: Obj) -> Violation | None:
    names = [v.get("name", "") for v in spec.get("volumes") or [] if isinstance(v, Mapping) and v.get("hostPath")]
    return ("hostPath volumes", _named("volume", names)) if names else None


_SECCOMP_OK = ("RuntimeDefault", "Localhost")


def _seccomp_baseline(meta: Obj, spec: Obj) -> Violation | None:
    bad_values: set[str] = set()

    def bad(o: Obj) -> bool:
        profile = _sc(o).get("seccompProfile")
        if isinstance(profile, Mapping) and profile.get("type") not in _SECCOMP_OK:
            bad_values.add(str(profile.get("type") or ""))
            return True
        return False

    setters = _setters(bad(spec), [c.get("name", "") for c in _containers(spec) if bad(c)])
    if not setters:
        return None
    return ("seccompProfile", f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
                              f"{_join_quote(sorted(bad_values))}")


# ----------------------------------------------------------------------------- restricted checks

def _allow_privilege_escalation(meta: Obj, spec: Obj) -> Violation | None:
    names = [c.get("name", "") for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    return ("allowPrivilegeEscalation != false",
            f"{_named('container', names)} must set securityContext.allowPrivilegeEscalation=false") \
        if names else None


def _capabilities_restricted(meta: Obj, spec: Obj) -> Violation | None:
    no_drop: list[str] = []
    adding: list[str] = []
    caps: set[str] = set()
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities")
        if not isinstance(capabilities, Mapping):
            no_drop.append(c.get("name", ""))
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            no_drop.append(c.get("name", ""))
        bad = [str(x) for x in capabilities.get("add") or [] if x != "NET_BIND_SERVICE"]
        if bad:
            adding.append(c.get("name", ""))
            caps.update(bad)
    details = []
    if no_drop:
        details.append(f'{_named("container", no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_named('container', adding)} must not include {_join_quote(sorted(caps))} in "
                       "securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


_ALLOWED_VOLUME_SOURCES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                           "projected", "secret")


def _restricted_volumes(meta: Obj, spec: Obj) -> Violation | None:
    names = sorted({v.get("name", "") for v in spec.get("volumes") or [] if isinstance(v, Mapping)
                    and not any(v.get(k) is not None for k in _ALLOWED_VOLUME_SOURCES)})
    if not names:
        return None
    # Go's %q of a []string: ["a" "b"].
    shown = "[" + " ".join(f'"{n}"' for n in names) + "]"
    return ("restricted volume types", f"volumes {shown} have restricted types")


def _run_as_non_root(meta: Obj, spec: Obj) -> Violation | None:
    if _user_namespaced(spec):
        return None
    pod_value = _sc(spec).get("runAsNonRoot")
    explicit: list[str] = []
    implicit: list[str] = []
    for c in _containers(spec):
        v = _sc(c).get("runAsNonRoot")
        if v is not None:
            if not v:
                explicit.append(c.get("name", ""))
        elif pod_value is not True:
            implicit.append(c.get("name", ""))
    setters = _setters(pod_value is False, explicit)
    if setters:
        return ("runAsNonRoot != true", f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return ("runAsNonRoot != true",
                f"pod or {_named('container', implicit)} must set securityContext.runAsNonRoot=true")
    return None


def _run_as_user(meta: Obj, spec: Obj) -> Violation | None:
    if _user_namespaced(spec):
        return None
    setters = _setters(_sc(spec).get("runAsUser") == 0,
                       [c.get("name", "") for c in _containers(spec) if _sc(c).get("runAsUser") == 0])
    return ("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0") if setters else None


def _seccomp_restricted(meta: Obj, spec: Obj) -> Violation | None:
    bad_values: set[str] = set()
    pod_profile = _sc(spec).get("seccompProfile")
    pod_bad = pod_ok = False
    if isinstance(pod_profile, Mapping):
        if pod_profile.get("type") in _SECCOMP_OK:
            pod_ok = True
        else:
            pod_bad = True
            bad_values.add(str(pod_profile.get("type") or ""))
    explicit: list[str] = []
    implicit: list[str] = []
    for c in _containers(spec):
        profile = _sc(c).get("seccompProfile")
        if isinstance(profile, Mapping):
            if profile.get("type") not in _SECCOMP_OK:
                explicit.append(c.get("name", ""))
                bad_values.add(str(profile.get("type") or ""))
        elif not pod_ok:
            implicit.append(c.get("name", ""))
    setters = _setters(pod_bad, explicit)
    if setters:
        return ("seccompProfile", f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
                                  f"{_join_quote(sorted(bad_values))}")
    if implicit:
        return ("seccompProfile", f'pod or {_named("container", implicit)} must set '
                                  'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return None


# ----------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Check:
    id: str
    level: str  # baseline | restricted
    check: Callable[[Obj, Obj], Violation | None]
    min_version: tuple[int, int] = (1, 0)
    # A baseline check that a restricted one replaces at the restricted level.
    overlap: bool = False


# Upstream's registration order (its check files, alphabetically), which is the order of the reasons.
CHECKS = (
    Check("allowPrivilegeEscalation", "restricted", _allow_privilege_escalation, (1, 8)),
    Check("appArmorProfile", "baseline", _app_armor),
    Check("capabilities_baseline", "baseline", _capabilities_baseline, overlap=True),
    Check("capabilities_restricted", "restricted", _capabilities_restricted, (1, 22)),
    Check("hostNamespaces", "baseline", _host_namespaces),
    Check("hostPathVolumes", "baseline", _host_path_volumes, overlap=True),
    Check("hostPorts", "baseline", _host_ports),
    Check("privileged", "baseline", _privileged),
    Check("procMount", "baseline", _proc_mount),
    Check("restrictedVolumes", "restricted", _restricted_volumes),
    Check("runAsNonRoot", "restricted", _run_as_non_root),
    Check("runAsUser", "restricted", _run_as_user, (1, 23)),
    Check("seLinuxOptions", "baseline", _selinux),
    Check("seccompProfile_baseline", "baseline", _seccomp_baseline, (1, 19), overlap=True),
    Check("seccompProfile_restricted", "restricted", _seccomp_restricted, (1, 19)),
    Check("sysctls", "baseline", _sysctls),
    Check("windowsHostProcess", "baseline", _host_process),
)


def evaluate(lv: LevelVersion, meta: Obj, spec: Obj) -> list[Violation]:
    """The broken checks of a level, in upstream's order: shared baseline checks, then the level's own."""
    if lv.level == "privileged":
        return []
    version = min(lv.version or LATEST, LATEST)
    applicable = [c for c in CHECKS if c.min_version <= version]
    chosen = [c for c in applicable if c.level == "baseline" and not c.overlap]
    if lv.level == "baseline":
        chosen += [c for c in applicable if c.level == "baseline" and c.overlap]
    else:
        chosen += [c for c in applicable if c.level == "restricted"]
    return [v for v in (c.check(meta, spec) for c in chosen) if v is not None]


def describe(violations: list[Violation]) -> str:
    return ", ".join(f"{r} ({d})" if d else r for r, d in violations)


# ----------------------------------------------------------------------------- namespace policy

_VERSION = re.compile(r"^v1\.(0|[1-9][0-9]*)$")


def _parse_level(value: str | None) -> tuple[str, str | None]:
    if value is None:
        return "privileged", None
    if value in LEVELS:
        return value, None
    return "restricted", "must be one of privileged, baseline, restricted"


def _parse_version(value: str | None) -> tuple[tuple[int, int] | None, str | None]:
    if value is None or value == "latest":
        return None, None
    m = _VERSION.match(value)
    if not m:
        return None, 'must be "latest" or "v1.x"'
    return (1, int(m.group(1))), None


def policy(labels: Mapping[str, str] | None) -> tuple[dict[str, LevelVersion], list[errors.Cause]]:
    """Each mode's level and version from namespace labels; bad values fall back to restricted:latest
    (and are reported as field causes)."""
    labels = labels or {}
    out: dict[str, LevelVersion] = {}
    causes: list[errors.Cause] = []
    for mode in MODES:
        level, err = _parse_level(labels.get(PREFIX + mode))
        if err:
            causes.append(errors.field_invalid(f"metadata.labels[{PREFIX}{mode}]", labels[PREFIX + mode], err))
        version, verr = _parse_version(labels.get(f"{PREFIX}{mode}-version"))
        if verr:
            causes.append(errors.field_invalid(f"metadata.labels[{PREFIX}{mode}-version]",
                                               labels[f"{PREFIX}{mode}-version"], verr))
        out[mode] = LevelVersion(level, version)
    return out, causes


# ----------------------------------------------------------------------------- admission

# Pod fields a running pod may change that no check looks at: such updates are not re-checked.
_IGNORED_ON_UPDATE = ("activeDeadlineSeconds", "tolerations", "schedulingGates")


async def validate(a: Attributes) -> None:
    r = a.resource
    if a.operation not in ("CREATE", "UPDATE") or a.obj is None:
        return
    if r.plural == "namespaces" and not r.group and not a.subresource:
        await _validate_namespace(a)
        return
    if r.plural == "pods" and not r.group:
        if a.subresource not in (None, "", "ephemeralcontainers"):
            return
        if a.operation == "UPDATE" and a.old is not None and not _significant_update(a.obj, a.old):
            return
        await _validate_pod(a, a.obj.get("metadata") or {}, a.obj.get("spec") or {})
        return
    found = template_of(r.group, r.plural, a.obj) if not a.subresource else None
    if found is not None:
        template = found[1]
        await _warn_template(a, template.get("metadata") or {}, template.get("spec") or {})


async def _policy_of(a: Attributes) -> dict[str, LevelVersion] | None:
    if not a.namespace:
        return None
    ns = await a.lookup("namespaces", None, a.namespace)
    if ns is None:
        return None
    modes, _ = policy((ns.get("metadata") or {}).get("labels"))
    return modes


async def _validate_pod(a: Attributes, meta: Obj, spec: Obj) -> None:
    modes = await _policy_of(a)
    if modes is None:
        return
    enforce, warn = modes["enforce"], modes["warn"]
    broken = evaluate(enforce, meta, spec)
    if broken:
        raise forbidden(a, f'violates PodSecurity "{enforce}": {describe(broken)}')
    if warn != enforce:
        broken = evaluate(warn, meta, spec)
        if broken:
            a.warnings.append(f'would violate PodSecurity "{warn}": {describe(broken)}')


async def _warn_template(a: Attributes, meta: Obj, spec: Obj) -> None:
    modes = await _policy_of(a)
    if modes is None:
        return
    seen: set[LevelVersion] = set()
    for lv in (modes["enforce"], modes["warn"]):
        if lv in seen:
            continue
        seen.add(lv)
        broken = evaluate(lv, meta, spec)
        if broken:
            a.warnings.append(f'would violate PodSecurity "{lv}": {describe(broken)}')


def _significant_update(new: Obj, old: Obj) -> bool:
    def stripped(pod: Obj) -> dict[str, Any]:
        spec = dict(pod.get("spec") or {})
        for k in _IGNORED_ON_UPDATE:
            spec.pop(k, None)
        spec["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get("containers") or []
                              if isinstance(c, Mapping)]
        spec["initContainers"] = [{k: v for k, v in c.items() if k != "image"}
                                  for c in spec.get("initContainers") or [] if isinstance(c, Mapping)]
        return spec

    return stripped(new) != stripped(old)


async def _validate_namespace(a: Attributes) -> None:
    assert a.obj is not None
    labels = (a.obj.get("metadata") or {}).get("labels") or {}
    modes, causes = policy(labels)
    if causes:
        r = a.resource
        raise errors.invalid(r.kind, r.group, a.name, causes)
    if a.operation != "UPDATE" or a.old is None:
        return
    old_modes, _ = policy((a.old.get("metadata") or {}).get("labels"))
    enforce = modes["enforce"]
    if enforce == old_modes["enforce"] or enforce.level == "privileged":
        return
    access = access_of(a)
    if access is None:
        return
    a.warnings.extend(existing_pod_warnings(a.name, enforce, await access.list("", "pods", a.name)))


def existing_pod_warnings(namespace: str, enforce: LevelVersion, pods: Sequence[Obj]) -> list[str]:
    """Upstream's warnings when a namespace's enforce level tightens: one line, then each distinct
    set of broken checks with the first pod (by name) that breaks them."""
    first: dict[str, tuple[str, int]] = {}
    order: list[str] = []
    for pod in pods:
        broken = evaluate(enforce, pod.get("metadata") or {}, pod.get("spec") or {})
        if not broken:
            continue
        reasons = ", ".join(r for r, _ in broken)
        name = (pod.get("metadata") or {}).get("name", "")
        if reasons not in first:
            order.append(reasons)
            first[reasons] = (name, 1)
        else:
            known, count = first[reasons]
            first[reasons] = (min(known, name), count + 1)
    if not order:
        return []
    out = [f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level "{enforce}"']
    for reasons in order:
        name, count = first[reasons]
        out.append(f"{name}: {reasons}" if count == 1 else f"{name} (and {count - 1} other pods): {reasons}")
    return out
