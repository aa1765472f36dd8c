"""The REST verbs on resources: get, list, watch, create, update, patch, delete, deletecollection.

Each handler takes a parsed ``RequestInfo`` and returns an aiohttp response, raising ``StatusError``
for every failure. Reads come from the watch cache; writes go to the store with compare-and-swap on
the object's resourceVersion, so two writers never silently overwrite each other.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import datetime as dt
import functools
import logging
import random
import string
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
from aiohttp import web
from multidict import MultiDictProxy

from navarch.api import errors, goprint
from navarch.api import warnings as api_warnings
from navarch.api.resources import REGISTRY, ResourceInfo
from navarch.api.schema import load_schema
from navarch.apiserver import codec, strategy
from navarch.apiserver.allocators import ServiceAllocator
from navarch.apiserver.patching import jsondoc
from navarch.apiserver.watchcache import CacheEvent, Entry, TooOld, WatchCache
from navarch.storage import Compacted, KeyExists, KeyNotFound, RevisionConflict, Store

log = logging.getLogger("navarch.apiserver")

_NAME_CHARS = string.ascii_lowercase + string.digits
# Upstream's generateName suffix alphabet leaves out vowels and look-alikes.
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class RequestInfo:
    verb: str
    resource: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None
    query: MultiDictProxy
    request: web.Request
    user: Any = None
    warnings: list[str] = field(default_factory=list)
    # The version the client spoke, when the pipeline runs on the storage version's shape.
    requested: ResourceInfo | None = None

    def q(self, key: str, default: str = "") -> str:
        return self.query.get(key, default)


def now_rfc3339() -> str:
    import time

    return _format_second(int(time.time()))


@functools.lru_cache(maxsize=2)
def _format_second(sec: int) -> str:
    # Every write stamps a time; formatting it once per second keeps strftime off the hot path.
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec))


def _bool(v: str) -> bool:
    return v.lower() in ("true", "1", "yes")


class ResourceAPI:
    """The verbs, over one store and its watch cache."""

    def __init__(self, store: Store, cache: WatchCache, allocator: ServiceAllocator,
                 min_request_timeout: int = 1800) -> None:
        self.store = store
        self.cache = cache
        self.allocator = allocator
        self.schema = load_schema()
        self.min_request_timeout = min_request_timeout
        from navarch.apiserver.admission import default_plugins
        from navarch.apiserver.admission.access import CacheAccess

        self.admission = default_plugins()
        self._admission_chain: Any = None
        self._admission_access = CacheAccess(store, cache)
        # Orphan/foreground deletion is carried out by the garbage collector (in the controller
        # manager); as upstream, the API server adds the finalizers whether or not one runs.
        self.garbage_collector_present = True
        # The API server's Authenticator: TokenRequest issues tokens and TokenReview checks them with it.
        self.authenticator: Any = None
        # Its Authorizer: the access reviews ask it.
        self.authorizer: Any = None

    # ----------------------------------------------------------------- helpers
    def _storage(self, r: ResourceInfo) -> ResourceInfo:
        return REGISTRY.storage_resource(r)

    def _key(self, r: ResourceInfo, ns: str | None, name: str) -> str:
        return self._storage(r).storage_key(ns, name)

    def _prefix(self, r: ResourceInfo, ns: str | None) -> str:
        p = self._storage(r).storage_prefix()
        return f"{p}{ns}/" if (r.namespaced and ns) else p

    def _definition(self, r: ResourceInfo) -> str:
        d = self.schema.definition_for(r.group, r.version, r.kind)
        if d is None:
            raise errors.internal(f"no schema for {r.kind}")
        return d

    async def _fresh_cache(self) -> None:
        if not await self.cache.wait_fresh():
            raise errors.StatusError(504, "Timeout", "Timeout: Too large resource version, the watch cache did not catch up in time")

    def _json(self, obj: Any, status: int = 200, info: RequestInfo | None = None) -> web.Response:
        body = obj if isinstance(obj, bytes) else orjson.dumps(obj)
        resp = web.Response(body=body, status=status, content_type="application/json")
        if info is not None:
            _add_warnings(resp, info.warnings)
        return resp

    def _render(self, info: RequestInfo, entries: list[Entry], list_meta: dict[str, Any] | None,
                single: bool) -> web.Response:
        accept = codec.parse_accept(info.request.headers.get("Accept"))
        r = info.resource
        if accept.as_kind == "Table":
            from navarch.apiserver import printers

            table = printers.to_table(r, [e.obj for e in entries],
                                      include_object=info.q("includeObject", "Metadata"),
                                      list_meta=list_meta or {})
            if accept.version == "v1beta1":
                table["apiVersion"] = "meta.k8s.io/v1beta1"
            return self._json(table, info=info)
        if accept.as_kind in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            metas = [{"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{accept.version}",
                      "metadata": e.obj.get("metadata", {})} for e in entries]
            if single:
                return self._json(metas[0], info=info)
            return self._json({"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{accept.version}",
                               "metadata": list_meta or {}, "items": metas}, info=info)
        if single:
            return self._json(entries[0].raw, info=info)
        head = orjson.dumps({"kind": r.list_kind, "apiVersion": r.api_version, "metadata": list_meta or {}})
        body = head[:-1] + b',"items":[' + b",".join([e.raw for e in entries]) + b"]}"
        return self._json(body, info=info)

    def _converted(self, info: RequestInfo, e: Entry) -> Entry:
        """Objects are stored in one version; answer in the version the URL asked for."""
        r = info.requested or info.resource
        if e.obj.get("apiVersion") == r.api_version:
            return e
        obj = _to_version(e.obj, r)
        return Entry(e.key, obj, orjson.dumps(obj), e.revision)

    def _storage_view(self, info: RequestInfo) -> RequestInfo:
        """The request re-aimed at the storage version, for kinds stored in another shape."""
        sr = self._storage(info.resource)
        if sr is info.resource or not _needs_conversion(info.resource, sr):
            return info
        return dataclasses.replace(info, resource=sr, requested=info.resource)

    # ----------------------------------------------------------------- reads
    async def get(self, info: RequestInfo) -> web.Response:
        r = info.resource
        key = self._key(r, info.namespace, info.name or "")
        rv = info.q("resourceVersion")
        if rv != "0":
            await self._fresh_cache()
        e = self.cache.cache_for(self._storage(r).storage_prefix()).items.get(key)
        if e is None:
            raise errors.not_found(r.plural, r.group, info.name or "")
        return self._render(info, [self._converted(info, e)], None, single=True)

    def _selectors(self, info: RequestInfo) -> Callable[[dict[str, Any]], bool] | None:
        from navarch.api import selectors

        ls = info.q("labelSelector")
        fs = info.q("fieldSelector")
        lsel = selectors.parse_label_selector(ls) if ls.strip() else None
        fsel = selectors.parse_field_selector(fs) if fs.strip() else None
        if lsel is not None and lsel.empty:
            lsel = None
        target = info.resource
        if fsel is not None and (target.group, target.plural) == ("events.k8s.io", "events"):
            # events.k8s.io field labels name the core Event fields the objects are stored with.
            from navarch.api import conversion

            reqs = []
            for rq in fsel.requirements:
                mapped = conversion.event_field_label(rq.field)
                if mapped is None:
                    raise selectors.unsupported_field_error(target, rq.field)
                reqs.append(dataclasses.replace(rq, field=mapped))
            fsel = selectors.FieldSelector(tuple(reqs))
            target = self._storage(target)
        if fsel is not None:
            fsel = selectors.check_field_selector(target, fsel)
            if fsel.empty:
                fsel = None
        if lsel is None and fsel is None:
            return None
        r = target

        def match(obj: dict[str, Any]) -> bool:
            if lsel is not None and not lsel.matches((obj.get("metadata") or {}).get("labels") or {}):
                return False
            if fsel is not None and not fsel.matches(selectors.object_fields(r, obj)):
                return False
            return True

        return match

    async def list(self, info: RequestInfo) -> web.Response:
        if _bool(info.q("watch", "false")):
            return await self.watch(info)
        r = info.resource
        pred = self._selectors(info)
        limit = int(info.q("limit", "0") or 0) if info.q("limit", "0").lstrip("-").isdigit() else None
        if limit is None:
            raise errors.bad_request(f"invalid limit: {info.q('limit')!r}")
        cont = info.q("continue")
        rv = info.q("resourceVersion")
        match = info.q("resourceVersionMatch")
        if match and match not in ("Exact", "NotOlderThan"):
            raise errors.bad_request(f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"')
        if match and not rv:
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [errors.field_forbidden(
                "resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided")])
        if cont and rv:
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [errors.field_forbidden(
                "resourceVersion", "specifying resource version is not allowed when using continue")])
        prefix = self._prefix(r, info.namespace)
        if cont:
            crev, after_key, cprefix = _decode_continue(cont)
            cache = self.cache.cache_for(self._storage(r).storage_prefix())
            if cprefix == prefix and self._cache_unchanged_since(cache, prefix, crev):
                # Nothing changed since the first page: the cache is the list at that revision.
                return self._page_from_cache(info, cache, prefix, after_key, pred, limit, crev)
            return await self._list_from_store(info, prefix, pred, limit, cont=cont)
        if match == "Exact":
            return await self._list_from_store(info, prefix, pred, limit, revision=_rv(rv))
        if rv and rv != "0":
            want = _rv(rv)
            if not await self.cache.wait_for(want):
                raise errors.StatusError(504, "Timeout", f"Timeout: Too large resource version: {want}, current: {self.cache.revision}")
        elif rv != "0":
            await self._fresh_cache()
        cache = self.cache.cache_for(self._storage(r).storage_prefix())
        return self._page_from_cache(info, cache, prefix, None, pred, limit, self.cache.revision)

    def _page_from_cache(self, info: RequestInfo, cache: Any, prefix: str, after: str | None, pred: Any,
                         limit: int, revision: int) -> web.Response:
        import bisect

        keys = cache.sorted_keys()
        lo = bisect.bisect_left(keys, prefix) if prefix != cache.prefix else 0
        hi = bisect.bisect_left(keys, prefix[:-1] + chr(ord(prefix[-1]) + 1)) if prefix != cache.prefix else len(keys)
        if after is not None:
            lo = max(lo, bisect.bisect_right(keys, after))
        items = cache.items
        out: list[Entry] = []
        more = False
        i = lo
        while i < hi:
            e = items[keys[i]]
            if pred is None or pred(e.obj):
                if limit and len(out) >= limit:
                    more = True
                    break
                out.append(e)
            i += 1
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if more:
            meta["continue"] = _encode_continue(revision, out[-1].key, prefix)
            if pred is None:
                meta["remainingItemCount"] = hi - i
        if out and out[0].obj.get("apiVersion") != info.resource.api_version:
            out = [self._converted(info, e) for e in out]
        return self._render(info, out, meta, single=False)

    def _cache_unchanged_since(self, cache: Any, prefix: str, revision: int) -> bool:
        """True when the cache can answer "as of ``revision``": nothing under ``prefix`` changed after it."""
        try:
            return not cache.events_after(revision, prefix)
        except TooOld:
            return False

    async def _list_from_store(self, info: RequestInfo, prefix: str, pred: Any, limit: int,
                               cont: str = "", revision: int | None = None) -> web.Response:
        after = None
        if cont:
            revision, after, cprefix = _decode_continue(cont)
            if cprefix != prefix:
                raise errors.bad_request("continue key is not valid: the prefix does not match the request")
        from navarch.apiserver.watchcache import stamp

        out: list[Entry] = []
        more = False
        last_key = ""
        try:
            while True:
                res = await self.store.list(prefix, revision=revision, limit=max(limit, 1) if limit else None,
                                            start_after=after)
                revision = res.revision
                for kv in res.items:
                    e = stamp(kv)
                    if pred is None or pred(e.obj):
                        if limit and len(out) >= limit:
                            more = True
                            break
                        out.append(e)
                    last_key = kv.key
                if more or not res.more or not res.items:
                    more = more or (res.more and bool(limit) and len(out) >= limit)
                    break
                after = res.items[-1].key
                if limit and len(out) >= limit:
                    more = True
                    break
        except Compacted as e:
            if cont:
                raise errors.gone("The provided continue parameter is too old to display a consistent list result. "
                                  "You can start a new list without the continue parameter, or use the continue "
                                  "token in this response to retrieve the remainder of the results. Continuing "
                                  "with the provided token results in an inconsistent list - objects that were "
                                  "created, modified, or deleted between the time the first chunk was returned "
                                  "and now may show up in the list.") from e
            raise errors.gone(f"too old resource version: {e.requested} ({e.compacted})") from e
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if more and out:
            meta["continue"] = _encode_continue(revision or 0, out[-1].key, prefix)
            if pred is None:
                rest = await self.store.list(prefix, revision=revision, start_after=out[-1].key)
                meta["remainingItemCount"] = len(rest.items)
        return self._render(info, [self._converted(info, e) for e in out], meta, single=False)

    async def watch(self, info: RequestInfo) -> web.StreamResponse:
        from navarch.apiserver.watch import serve_watch

        return await serve_watch(self, info)

    # ----------------------------------------------------------------- writes
    def _check_body_identity(self, info: RequestInfo, obj: dict[str, Any], kind: str | None = None,
                             api_version: str | None = None) -> None:
        r = info.resource
        kind = kind or r.kind
        api_version = api_version or r.api_version
        got_kind = obj.get("kind")
        got_av = obj.get("apiVersion")
        if got_kind is not None and not isinstance(got_kind, str) or got_av is not None and not isinstance(got_av, str):
            raise errors.bad_request("kind and apiVersion must be strings")
        if got_av and got_av != api_version:
            raise errors.bad_request(
                f"the API version in the data ({got_av}) does not match the expected API version ({api_version})")
        if got_kind and got_kind != kind:
            version = api_version.rsplit("/", 1)[-1]
            raise errors.bad_request(
                f'{got_kind} in version "{version}" cannot be handled as a {kind}: the kind in the data '
                f"({got_kind}) does not match the expected kind ({kind})")
        obj["kind"] = kind
        obj["apiVersion"] = api_version
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = meta = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if r.namespaced:
            ns = meta.get("namespace")
            if ns and info.namespace and ns != info.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            if info.namespace:
                meta["namespace"] = info.namespace
        else:
            meta.pop("namespace", None)

    def _field_validation(self, info: RequestInfo, obj: dict[str, Any], definition: str,
                          changed: Any = None, patched: Callable[[], str] | None = None) -> dict[str, Any]:
        """Type errors and unknown fields of a body as upstream's decoder finds them; ``changed`` is
        the merge patch that made ``obj`` out of the stored object, when only its keys need a look.

        A patch's result (``patched`` shows it) fails as upstream's patch handler fails it: 422 on
        the field ``patch``, its value the patched document, not the 400 of a bad request body."""
        from navarch.api.validation import structural

        mode = info.q("fieldValidation", "Warn") or "Warn"
        r = info.resource
        type_errs = structural.type_errors(self.schema, definition, obj, changed)
        if type_errs:
            if patched is not None:
                raise errors.invalid("", "", "", [errors.field_invalid("patch", patched(), type_errs[0].message)])
            raise structural.decode_error(type_errs, r.kind, r.version)
        unknown = structural.unknown_fields(self.schema, definition, obj, changed)
        if unknown:
            if mode == "Strict":
                if patched is not None:
                    detail = structural.strict_error(unknown).message
                    raise errors.invalid("", "", "", [errors.field_invalid("patch", patched(), detail)])
                raise structural.strict_error(unknown, r.kind, r.version)
            if mode == "Warn":
                info.warnings.extend(structural.warnings(unknown))
            obj = structural.prune(self.schema, definition, obj)
        return obj

    async def _admit(self, info: RequestInfo, obj: dict[str, Any] | None, old: dict[str, Any] | None,
                     *, dry_run: bool | None = None, phase: str = "") -> None:
        """The admission chain: built-in plugins, mutating then validating (or only ``phase``:
        writes validate the object between the two). ``obj`` None is a delete of ``old``; ``old``
        None is a create."""
        from navarch.apiserver.admission import Attributes, Chain

        if not self.admission:
            return
        chain = self._admission_chain
        if chain is None or chain.plugins != self.admission:  # the server may reconfigure the list
            chain = self._admission_chain = Chain(self.admission)
        r = info.resource
        operation = "DELETE" if obj is None else "CREATE" if old is None else "UPDATE"
        attrs = Attributes(
            operation=operation, resource=r, subresource=info.subresource,
            namespace=info.namespace, name=((obj or old or {}).get("metadata") or {}).get("name", ""),
            obj=obj, old=old, user=info.user, dry_run=_dry_run(info) if dry_run is None else dry_run,
            lookup=self._lookup, warnings=info.warnings, access=self._admission_access)
        await chain.run(attrs, phase)

    async def _lookup(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A current object for admission plugins, from the watch cache (fresh if not found at first)."""
        r = REGISTRY.get("", "v1", plural) or next(
            (x for x in REGISTRY.resources if x.plural == plural and not x.virtual), None)
        if r is None:
            return None
        cache = self.cache.cache_for(self._storage(r).storage_prefix())
        key = self._key(r, namespace, name)
        e = cache.items.get(key)
        if e is None:
            await self._fresh_cache()
            e = cache.items.get(key)
        return e.obj if e is not None else None

    def _validate(self, info: RequestInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        from navarch.api.validation import semantic

        causes = semantic.validate(info.resource, obj, old)
        if info.resource.kind == "Event" and not info.subresource:
            from navarch.api.validation import events

            spoken = (info.requested or info.resource).api_version
            causes += (events.validate_event_create(obj, spoken) if old is None
                       else events.validate_event_update(obj, old, spoken))
        if causes:
            r = info.resource
            raise errors.invalid(r.kind, r.group, obj.get("metadata", {}).get("name", ""), causes)

    def _defaults(self, r: ResourceInfo, obj: dict[str, Any]) -> None:
        from navarch.api import defaults

        defaults.apply_defaults(r, obj)

    def _field_manager(self, info: RequestInfo) -> Any:
        from navarch.apiserver.patching import managedfields

        r = info.resource
        sub = info.subresource or ""
        # A write to the main resource cannot change status (it is reset), so it never owns it.
        ignored = (("f:status",),) if r.has_status and not sub else ()
        return managedfields.FieldManager(self.schema, self._definition(r), r.api_version,
                                          subresource=sub, ignored=ignored)

    def _track_update(self, info: RequestInfo, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """Every write but an apply records, in metadata.managedFields, who changed which fields."""
        from navarch.apiserver.patching import managedfields

        if _is_apply(info):
            return
        manager = managedfields.manager_name(info.q("fieldManager"), info.request.headers.get("User-Agent", ""))
        entries = self._field_manager(info).update(old, new, manager, now_rfc3339())
        if entries:
            new["metadata"]["managedFields"] = entries
        else:
            new["metadata"].pop("managedFields", None)

    async def create(self, info: RequestInfo) -> web.Response:
        r = info.resource
        if info.subresource:
            return await self._create_subresource(info)
        if r.virtual:
            from navarch.apiserver import reviews

            return self._json(await reviews.answer(self, info), status=201, info=info)
        body = await _read_body(info.request)
        obj = codec.decode_object(body, info.request.headers.get("Content-Type"), info.resource.kind)
        self._check_body_identity(info, obj)
        dry = _dry_run(info)
        obj = self._field_validation(info, obj, self._definition(r))
        sinfo = self._storage_view(info)
        if sinfo is not info:
            obj = _to_version(obj, sinfo.resource)
        obj = await self.prepare_new(sinfo, obj)
        if not dry:
            obj = await self._store_create(sinfo.resource, obj)
        if sinfo is not info:
            obj = _to_version(obj, r)
        return self._json(obj, status=201, info=info)

    async def prepare_new(self, info: RequestInfo, obj: dict[str, Any]) -> dict[str, Any]:
        """Everything a create does before the store: metadata, strategy, defaults, admission, validation."""
        r = info.resource
        meta = obj["metadata"]
        if not meta.get("name"):
            gen = meta.get("generateName")
            if gen and isinstance(gen, str):
                meta["name"] = gen + "".join(random.choice(_SUFFIX_CHARS) for _ in range(5))
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "resourceVersion", "selfLink"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        strategy.prepare_create(r, obj)
        _drop_conversion_annotations(r, obj)
        self._defaults(r, obj)
        # As upstream, the creator owns what it sent and its defaults, not what mutating admission
        # adds (a service account's token volume, default tolerations): fields are tracked first.
        self._track_update(info, None, obj)
        await self._admit(info, obj, None, phase="mutating")
        if r.kind == "CertificateSigningRequest":
            _set_requester(obj, info.user)
        if r.kind == "Job" and r.group == "batch":
            from navarch.api import defaults

            defaults.apply_job_selector(obj, meta["uid"])
            if not meta.get("labels"):
                tlabels = ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
                if tlabels:
                    meta["labels"] = dict(tlabels)
        self._validate(info, obj, None)
        info.warnings.extend(api_warnings.object_warnings(r, obj))
        if r.kind == "Service" and r.group == "" and not _dry_run(info):
            async with self.allocator.lock:
                await self._fresh_cache()
                self.allocator.assign(obj, self._cached_objects(r))
        elif r.kind == "Service" and r.group == "":
            self.allocator.assign(obj, self._cached_objects(r))
        await self._admit(info, obj, None, phase="validating")
        return obj

    def _cached_objects(self, r: ResourceInfo) -> list[dict[str, Any]]:
        return [e.obj for e in self.cache.cache_for(self._storage(r).storage_prefix()).items.values()]

    async def _store_create(self, r: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        key = self._key(r, meta.get("namespace"), meta["name"])
        stored_obj = self._to_storage_version(r, obj)
        try:
            kv = await self.store.create(key, orjson.dumps(stored_obj))
        except KeyExists:
            raise errors.already_exists(r.plural, r.group, meta["name"]) from None
        meta["resourceVersion"] = str(kv.mod_revision)
        return obj

    def _to_storage_version(self, r: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        sr = self._storage(r)
        if sr is r or obj.get("apiVersion") == sr.api_version:
            return obj
        return _to_version(obj, sr)

    async def _get_current(self, r: ResourceInfo, ns: str | None, name: str) -> Entry:
        await self._fresh_cache()
        e = self.cache.cache_for(self._storage(r).storage_prefix()).items.get(self._key(r, ns, name))
        if e is None:
            raise errors.not_found(r.plural, r.group, name)
        return e

    async def update(self, info: RequestInfo) -> web.Response:
        r = info.resource
        body = await _read_body(info.request)
        obj = codec.decode_object(body, info.request.headers.get("Content-Type"), info.resource.kind)
        sub = info.subresource
        if sub == "scale":
            return await self._update_scale(info, obj)
        if sub and sub not in ("status", "finalize", "approval", "ephemeralcontainers"):
            raise errors.method_not_allowed()
        self._check_body_identity(info, obj)
        name = obj["metadata"].get("name")
        if name and name != info.name:
            raise errors.bad_request(f"the name of the object ({name}) does not match the name on the URL ({info.name})")
        obj["metadata"]["name"] = info.name
        obj = self._field_validation(info, obj, self._definition(r))
        result = await self._update_with(info, lambda _cur: obj, precondition_from_body=True)
        return self._json(result, info=info)

    async def _update_with(self, info: RequestInfo, mutate: Callable[[dict[str, Any]], dict[str, Any]],
                           *, precondition_from_body: bool, retries: int = 0) -> dict[str, Any]:
        """Read, compute the new object, validate and compare-and-swap; retried on conflict when allowed."""
        sinfo = self._storage_view(info)
        r = sinfo.resource
        for attempt in range(retries + 1):
            cur = await self._get_current(r, info.namespace, info.name or "")
            old = cur.copy()
            if sinfo is not info:
                # The client reads and patches its own version's shape; the store keeps another.
                # (A private copy: ``mutate`` may change what it is given.)
                new = mutate(jsondoc.copy(_to_version(cur.obj, info.resource)))
                new = _to_version(new, r)
            else:
                new = mutate(cur.copy())
            new.setdefault("metadata", {})
            want_rv = str(new["metadata"].get("resourceVersion") or "")
            if precondition_from_body and want_rv and want_rv != str(cur.revision):
                raise errors.conflict(r.plural, r.group, info.name or "")
            want_uid = new["metadata"].get("uid")
            if want_uid and want_uid != old["metadata"].get("uid"):
                raise errors.conflict(r.plural, r.group, info.name or "",
                                      f"Precondition failed: UID in precondition: {want_uid}, "
                                      f"UID in object meta: {old['metadata'].get('uid')}")
            new["metadata"]["resourceVersion"] = str(cur.revision)
            new = self.prepare_update(sinfo, new, old)
            if new is None or _same_object(new, old):
                # Upstream writes nothing for an update that changes nothing: same resourceVersion.
                return self._converted(sinfo, cur).obj
            await self._admit(sinfo, new, old, phase="mutating")
            self._validate_update(sinfo, new, old)
            await self._admit(sinfo, new, old, phase="validating")
            if _dry_run(info):
                return _to_version(new, info.resource) if sinfo is not info else new
            try:
                stored = await self._store_update(r, new, cur.revision)
                return _to_version(stored, info.resource) if sinfo is not info else stored
            except errors.StatusError as e:
                if e.reason == "Conflict" and attempt < retries and not want_rv:
                    continue
                raise
        raise errors.conflict(r.plural, r.group, info.name or "")

    def prepare_update(self, info: RequestInfo, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any] | None:
        r = info.resource
        sub = info.subresource
        new["apiVersion"] = r.api_version
        new["kind"] = r.kind
        if sub == "status":
            applied = new["metadata"].get("managedFields") if _is_apply(info) else None
            new = strategy.prepare_status_update(r, new, old)
            if applied is not None:
                new["metadata"]["managedFields"] = applied
        elif sub == "finalize":
            fin = (new.get("spec") or {}).get("finalizers")
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["finalizers"] = fin or []
        elif sub == "approval":
            conds = (new.get("status") or {}).get("conditions")
            new = copy.deepcopy(old)
            new.setdefault("status", {})["conditions"] = conds or []
            strategy.stamp_conditions(new, old)
        elif sub == "ephemeralcontainers":
            ecs = (new.get("spec") or {}).get("ephemeralContainers") or []
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["ephemeralContainers"] = ecs
        else:
            strategy.prepare_update(r, new, old)
        _drop_conversion_annotations(r, new)
        if not sub or sub == "ephemeralcontainers":
            self._defaults(r, new)
        if r.kind == "Service" and r.group == "":
            self.allocator.assign(new, self._cached_objects(r), old)
        self._track_update(info, old, new)
        # Finalizers gone on an object being deleted: the update completes the deletion. A namespace
        # also waits for its spec.finalizers (the namespace controller empties them via /finalize).
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            if not (r.kind == "Namespace" and r.group == "" and (new.get("spec") or {}).get("finalizers")):
                new["metadata"]["__delete__"] = True
        return new

    def _validate_update(self, info: RequestInfo, new: dict[str, Any], old: dict[str, Any]) -> None:
        """An update's validation, after its mutating admission (upstream's order)."""
        r = info.resource
        if info.subresource == "ephemeralcontainers":
            causes = strategy.ephemeral_container_causes(new, old)
            if causes:
                raise errors.invalid(r.kind, r.group, new["metadata"].get("name", ""), causes)
        else:
            self._validate(info, new, old)
            if not info.subresource:
                info.warnings.extend(api_warnings.object_warnings(r, new))

    async def _store_update(self, r: ResourceInfo, new: dict[str, Any], revision: int) -> dict[str, Any]:
        meta = new["metadata"]
        name = meta.get("name", "")
        key = self._key(r, meta.get("namespace"), name)
        if meta.pop("__delete__", False):
            try:
                kv = await self.store.delete(key, revision)
            except RevisionConflict:
                raise errors.conflict(r.plural, r.group, name) from None
            except KeyNotFound:
                raise errors.not_found(r.plural, r.group, name) from None
            meta["resourceVersion"] = str(kv.mod_revision)
            return new
        meta.pop("resourceVersion", None)
        try:
            kv = await self.store.update(key, orjson.dumps(self._to_storage_version(r, new)), revision)
        except RevisionConflict:
            raise errors.conflict(r.plural, r.group, name) from None
        except KeyNotFound:
            raise errors.not_found(r.plural, r.group, name) from None
        meta["resourceVersion"] = str(kv.mod_revision)
        return new

    async def patch(self, info: RequestInfo) -> web.Response:
        from navarch.apiserver import patching

        r = info.resource
        body = await _read_body(info.request)
        ctype = codec.media_type(info.request.headers.get("Content-Type"))
        if info.subresource == "scale":
            return await self._patch_scale(info, body, ctype)
        if info.subresource and info.subresource not in ("status", "approval", "ephemeralcontainers"):
            raise errors.method_not_allowed()
        definition = self._definition(r)
        if ctype == "application/apply-patch+yaml":
            return await self._server_side_apply(info, body, definition)
        precondition: dict[str, str] = {}

        def mutate(cur: dict[str, Any]) -> dict[str, Any]:
            # The patch sees the current resourceVersion (kubectl's managedFields migration replaces it);
            # only a different one is a precondition.
            current_rv = cur.get("metadata", {}).get("resourceVersion")
            patched = patching.apply_patch(ctype, cur, body, self.schema, definition, owned=True)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch produced a non-object")
            meta = patched.get("metadata") or {}
            if isinstance(meta, dict) and current_rv is not None and meta.get("resourceVersion") == current_rv:
                meta.pop("resourceVersion", None)
            if meta.get("resourceVersion"):
                precondition["rv"] = str(meta["resourceVersion"])
            self._check_body_identity(info, patched)
            if patched["metadata"].get("name") != info.name:
                raise errors.bad_request("the name of the object cannot be changed by a patch")
            # A merge patch (plain or strategic) changes only what it names; a JSON patch's
            # operations can reach anywhere, so its result is checked whole.
            kind = patching.media_type(ctype)
            changed = None if kind == patching.JSON_PATCH else orjson.loads(body)
            if kind == patching.STRATEGIC_MERGE_PATCH:
                # Upstream shows the patch itself, as Go prints a map, for a strategic merge patch
                # (its detail comes from another decoder: "unrecognized type: int32" for a string
                # replicas, where navarch gives the JSON decoder's text); the patched JSON otherwise.
                def shown() -> str:
                    return goprint.value(changed)
            else:
                def shown() -> str:
                    return orjson.dumps(patched).decode()
            return self._field_validation(info, patched, definition, changed, shown)

        result = await self._update_with(info, mutate, precondition_from_body=True, retries=5)
        return self._json(result, info=info)

    async def _server_side_apply(self, info: RequestInfo, body: bytes, definition: str) -> web.Response:
        """Server-side apply with field management (``patching.managedfields``): merge the applied
        configuration, drop what the manager stopped applying, refuse conflicts unless forced; an absent
        object is created. The body is YAML or JSON."""
        r = info.resource
        config = codec.decode_object(body, "application/yaml")
        self._check_body_identity(info, config)
        name = config["metadata"].get("name")
        if name and name != info.name:
            raise errors.bad_request(f"the name of the object ({name}) does not match the name on the URL ({info.name})")
        config["metadata"]["name"] = info.name
        config = self._field_validation(info, config, definition)
        fm = self._field_manager(info)
        manager = info.q("fieldManager")
        force = _bool(info.q("force", "false"))
        try:
            await self._get_current(r, info.namespace, info.name or "")
        except errors.StatusError as e:
            if e.code != 404 or info.subresource:
                raise
            obj = await self.prepare_new(info, fm.apply(None, config, manager, force=force, now=now_rfc3339()))
            if _dry_run(info):
                return self._json(obj, status=201, info=info)
            return self._json(await self._store_create(r, obj), status=201, info=info)
        config_rv = config["metadata"].get("resourceVersion")

        def mutate(cur: dict[str, Any]) -> dict[str, Any]:
            applied: dict[str, Any] = fm.apply(cur, config, manager, force=force, now=now_rfc3339())
            if not config_rv:
                # the live resourceVersion, carried through the merge, is no precondition
                applied["metadata"].pop("resourceVersion", None)
            return applied

        return self._json(await self._update_with(info, mutate, precondition_from_body=True, retries=5),
                          info=info)

    async def delete(self, info: RequestInfo) -> web.Response:
        r = info.resource
        body = await _read_body(info.request)
        opts = codec.decode_options(body, info.request.headers.get("Content-Type"))
        for k in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
            if k in info.query and k not in opts:
                v = info.query[k]
                opts[k] = int(v) if k == "gracePeriodSeconds" and v.lstrip("-").isdigit() else (
                    _bool(v) if k == "orphanDependents" else v)
        if "dryRun" in info.query:
            opts.setdefault("dryRun", info.query.getall("dryRun"))
        result = await self._delete_one(info, info.name or "", opts)
        return self._json(result, info=info)

    async def _delete_one(self, info: RequestInfo, name: str, opts: dict[str, Any]) -> dict[str, Any]:
        r = info.resource
        policy = opts.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.invalid("DeleteOptions", "meta.k8s.io", "", [errors.field_not_supported(
                "propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"])])
        if opts.get("orphanDependents") is True:
            policy = policy or "Orphan"
        grace = opts.get("gracePeriodSeconds")
        if grace is not None and not isinstance(grace, int):
            raise errors.bad_request("gracePeriodSeconds must be an integer")
        dry = "All" in (opts.get("dryRun") or [])
        pre = opts.get("preconditions") or {}
        for attempt in range(5):
            cur = await self._get_current(r, info.namespace, name)
            meta = cur.obj.get("metadata", {})
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise errors.conflict(r.plural, r.group, name,
                                      f'Precondition failed: UID in precondition: {pre["uid"]}, UID in object meta: {meta.get("uid")}')
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
                raise errors.conflict(r.plural, r.group, name,
                                      f'Precondition failed: ResourceVersion in precondition: {pre["resourceVersion"]}, '
                                      f'ResourceVersion in object meta: {meta.get("resourceVersion")}')
            await self._admit(info, None, cur.obj, dry_run=dry)
            new = cur.copy()
            nmeta = new["metadata"]
            finalizers = list(nmeta.get("finalizers") or [])
            if policy == "Orphan" and "orphan" not in finalizers and self._has_dependents_controller():
                finalizers.append("orphan")
            elif policy == "Foreground" and "foregroundDeletion" not in finalizers and self._has_dependents_controller():
                finalizers.append("foregroundDeletion")
            graceful = self._graceful_seconds(r, cur.obj, grace)
            if r.kind == "Namespace" and r.group == "":
                if name in _UNDELETABLE_NAMESPACES:
                    raise errors.forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                                           "namespaces", "", name)
                if not nmeta.get("deletionTimestamp"):
                    nmeta["deletionTimestamp"] = now_rfc3339()
                    nmeta["deletionGracePeriodSeconds"] = 0
                    new.setdefault("status", {})["phase"] = "Terminating"
                if (new.get("spec") or {}).get("finalizers") or finalizers:
                    nmeta["finalizers"] = finalizers or nmeta.get("finalizers")
                    if not nmeta.get("finalizers"):
                        nmeta.pop("finalizers", None)
                    try:
                        return await self._write_deleting(info, r, new, cur, dry)
                    except errors.StatusError as e:
                        if e.code != 409:
                            raise
                        continue  # written meanwhile: preconditions and the delete again, on the new object
            elif finalizers or graceful:
                if finalizers:
                    nmeta["finalizers"] = finalizers
                if not nmeta.get("deletionTimestamp"):
                    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=graceful or 0)
                    nmeta["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
                    nmeta["deletionGracePeriodSeconds"] = graceful or 0
                elif graceful is not None and graceful < (nmeta.get("deletionGracePeriodSeconds") or 0):
                    nmeta["deletionGracePeriodSeconds"] = graceful
                if finalizers or graceful:
                    try:
                        return await self._write_deleting(info, r, new, cur, dry)
                    except errors.StatusError as e:
                        if e.code != 409:
                            raise
                        continue  # written meanwhile (a kubelet's status): again, on the new object
            if dry:
                return self._converted(info, cur).obj
            try:
                kv = await self.store.delete(cur.key, cur.revision)
            except RevisionConflict:
                continue
            except KeyNotFound:
                raise errors.not_found(r.plural, r.group, name) from None
            obj = self._converted(info, cur).obj
            if (r.group, r.plural) in _RETURNS_DELETED_OBJECT:
                obj = copy.deepcopy(obj)
                obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
                return obj
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": r.group, "kind": r.plural, "uid": meta.get("uid", "")}}
        raise errors.conflict(r.plural, r.group, name)

    def _has_dependents_controller(self) -> bool:
        return self.garbage_collector_present

    @staticmethod
    def _graceful_seconds(r: ResourceInfo, obj: dict[str, Any], grace: int | None) -> int | None:
        # Only pods bound to a node wait for their kubelet; everything else goes at once.
        if r.kind != "Pod" or r.group != "":
            return None
        if not (obj.get("spec") or {}).get("nodeName"):
            return None
        phase = (obj.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return None
        if grace is None:
            grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return max(int(grace), 1) if grace else None

    async def _write_deleting(self, info: RequestInfo, r: ResourceInfo, new: dict[str, Any],
                              cur: Entry, dry: bool) -> dict[str, Any]:
        if dry:
            return new
        if new == cur.obj:
            return self._converted(info, cur).obj
        return await self._store_update(r, new, cur.revision)

    async def delete_collection(self, info: RequestInfo) -> web.Response:
        r = info.resource
        body = await _read_body(info.request)
        opts = codec.decode_options(body, info.request.headers.get("Content-Type"))
        pred = self._selectors(info)
        await self._fresh_cache()
        prefix = self._prefix(r, info.namespace)
        cache = self.cache.cache_for(self._storage(r).storage_prefix())
        names = [(e.obj["metadata"].get("namespace"), e.obj["metadata"]["name"])
                 for k, e in list(cache.items.items()) if k.startswith(prefix) and (pred is None or pred(e.obj))]
        items = []
        for ns, name in names:
            sub = RequestInfo(info.verb, r, ns, name, None, info.query, info.request, info.user)
            try:
                res = await self._delete_one(sub, name, dict(opts))
                if res.get("kind") != "Status":
                    items.append(res)
            except errors.StatusError as e:
                if e.code != 404:
                    raise
        return self._json({"kind": r.list_kind, "apiVersion": r.api_version,
                           "metadata": {"resourceVersion": str(self.cache.revision)}, "items": items}, info=info)

    # ----------------------------------------------------------------- subresources
    def _scale_of(self, info: RequestInfo, obj: dict[str, Any]) -> dict[str, Any]:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        sel = spec.get("selector")
        if isinstance(sel, dict) and ("matchLabels" in sel or "matchExpressions" in sel):
            from navarch.api.selectors import label_selector_from_object

            selector = str(label_selector_from_object(sel))
        elif isinstance(sel, dict):
            selector = ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
        else:
            selector = ""
        meta = obj["metadata"]
        out = {"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                            if k in meta},
               "spec": {"replicas": spec.get("replicas", 0)},
               "status": {"replicas": status.get("replicas", 0)}}
        if selector:
            out["status"]["selector"] = selector
        return out

    async def get_subresource(self, info: RequestInfo) -> web.Response:
        r = info.resource
        sub = info.subresource
        if sub in ("status", "approval", "ephemeralcontainers"):
            return await self.get(info)
        if sub == "scale":
            e = await self._get_current(r, info.namespace, info.name or "")
            return self._json(self._scale_of(info, e.obj), info=info)
        raise errors.StatusError(
            501 if sub in ("log", "exec", "attach", "portforward", "proxy") else 404,
            "NotImplemented" if sub in ("log", "exec", "attach", "portforward", "proxy") else "NotFound",
            f"{r.plural}/{sub} is not supported by navarch yet" if sub in ("log", "exec", "attach", "portforward", "proxy")
            else "the server could not find the requested resource")

    async def _update_scale(self, info: RequestInfo, scale: dict[str, Any]) -> web.Response:
        if scale.get("kind") not in (None, "Scale"):
            raise errors.bad_request(f"the kind in the data ({scale.get('kind')}) does not match the expected kind (Scale)")
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", info.name or "", [errors.field_invalid(
                "spec.replicas", replicas, "must be greater than or equal to 0")])
        want_rv = str((scale.get("metadata") or {}).get("resourceVersion") or "")

        def mutate(cur: dict[str, Any]) -> dict[str, Any]:
            if want_rv and want_rv != cur["metadata"].get("resourceVersion"):
                raise errors.conflict(info.resource.plural, info.resource.group, info.name or "")
            cur.setdefault("spec", {})["replicas"] = replicas
            return cur

        sub_info = RequestInfo("update", info.resource, info.namespace, info.name, None, info.query,
                               info.request, info.user, info.warnings)
        result = await self._update_with(sub_info, mutate, precondition_from_body=False, retries=5)
        return self._json(self._scale_of(info, result), info=info)

    async def _patch_scale(self, info: RequestInfo, body: bytes, ctype: str) -> web.Response:
        from navarch.apiserver import patching

        cur = await self._get_current(info.resource, info.namespace, info.name or "")
        scale = self._scale_of(info, cur.obj)
        definition = self.schema.definition_for("autoscaling", "v1", "Scale") or ""
        patched = patching.apply_patch(ctype, scale, body, self.schema, definition)
        return await self._update_scale(info, patched)

    async def _create_subresource(self, info: RequestInfo) -> web.Response:
        from navarch.apiserver import subresources

        return await subresources.create(self, info)


def _rv(value: str) -> int:
    try:
        rv = int(value)
        if rv < 0:
            raise ValueError
        return rv
    except ValueError:
        raise errors.bad_request(f'invalid resource version "{value}"') from None


def _encode_continue(revision: int, key: str, prefix: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": key[len(prefix):], "p": prefix})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        d = orjson.loads(raw)
        return int(d["rv"]), d["p"] + d["start"], d["p"]
    except Exception:
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)") from None


def _dry_run(info: RequestInfo) -> bool:
    return bool(info.query.getall("dryRun", []))


# Registries that answer an immediate delete with the object rather than a Success Status (upstream's
# ReturnDeletedObject; the OpenAPI of these delete operations names the kind).
_UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")

_RETURNS_DELETED_OBJECT = {
    ("", "pods"), ("", "podtemplates"), ("", "resourcequotas"), ("", "services"), ("", "serviceaccounts"),
    ("", "persistentvolumes"), ("", "persistentvolumeclaims"), ("storage.k8s.io", "storageclasses"),
}

_OPTIONS_KIND = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions",
                 "delete": "DeleteOptions", "deletecollection": "DeleteOptions"}


def check_write_options(info: RequestInfo) -> None:
    """The query options of a write, checked as upstream's ValidateCreate/Update/PatchOptions (422)."""
    kind = _OPTIONS_KIND.get(info.verb)
    if kind is None:
        return
    causes: list[errors.Cause] = []
    for v in info.query.getall("dryRun", []):
        if v != "All":
            causes.append(errors.field_not_supported("dryRun", v, ["All"]))
    if kind != "DeleteOptions":
        fv = info.query.get("fieldValidation", "")
        if fv and fv not in ("Ignore", "Strict", "Warn"):
            causes.append(errors.field_not_supported("fieldValidation", fv, ["Ignore", "Strict", "Warn"]))
        fm = info.query.get("fieldManager", "")
        if len(fm) > 128:
            causes.append(errors.field_too_long("fieldManager", fm, 128))
        elif fm and not fm.isprintable():
            causes.append(errors.field_invalid("fieldManager", fm, "must only contain printable characters"))
        if kind == "PatchOptions" and not fm and _is_apply(info):
            causes.append(errors.field_required("fieldManager", "is required for apply patch"))
        force = info.query.get("force")
        if force is not None and kind == "PatchOptions" and \
                (info.request.headers.get("Content-Type") or "").split(";")[0].strip() != "application/apply-patch+yaml":
            causes.append(errors.field_forbidden("force", "may not be specified for non-apply patch"))
    if causes:
        raise errors.invalid(kind, "meta.k8s.io", "", causes)


def _is_apply(info: RequestInfo) -> bool:
    return info.request.method == "PATCH" and \
        codec.media_type(info.request.headers.get("Content-Type")) == "application/apply-patch+yaml"


async def _read_body(request: web.Request) -> bytes:
    if request.content_length is not None:
        if request.content_length > codec.MAX_BODY:
            raise errors.too_large(codec.MAX_BODY)
        return await request.read()
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > codec.MAX_BODY:
            raise errors.too_large(codec.MAX_BODY)
        chunks.append(chunk)
    return b"".join(chunks)


def _add_warnings(resp: web.StreamResponse, warnings: list[str]) -> None:
    for w in dict.fromkeys(warnings):
        escaped = w.replace("\\", "\\\\").replace('"', '\\"')
        resp.headers.add("Warning", f'299 - "{escaped}"')


def _same_object(new: dict[str, Any], old: dict[str, Any]) -> bool:
    if new.get("metadata", {}).get("__delete__"):
        return False
    a = dict(new)
    b = dict(old)
    a["metadata"] = {k: v for k, v in new.get("metadata", {}).items() if k != "resourceVersion"}
    b["metadata"] = {k: v for k, v in old.get("metadata", {}).items() if k != "resourceVersion"}
    return a == b


def _set_requester(csr: dict[str, Any], user: Any) -> None:
    """A CSR records who asked for it, from the request's authentication, never from the body."""
    spec = csr.setdefault("spec", {})
    for k in ("username", "uid", "groups", "extra"):
        spec.pop(k, None)
    if not user:
        return
    spec["username"] = user.get("username", "")
    if user.get("uid"):
        spec["uid"] = user["uid"]
    if user.get("groups"):
        spec["groups"] = list(user["groups"])
    if user.get("extra"):
        spec["extra"] = user["extra"]


def _needs_conversion(r: ResourceInfo, storage: ResourceInfo) -> bool:
    from navarch.api import conversion

    return (r.api_version, storage.api_version) in conversion.CONVERTIBLE or \
        (storage.api_version, r.api_version) in conversion.CONVERTIBLE


def _to_version(obj: dict[str, Any], r: ResourceInfo) -> dict[str, Any]:
    """``obj`` in ``r``'s version: a real conversion where the shapes differ, else a relabel."""
    from navarch.api import conversion

    if obj.get("apiVersion") == r.api_version:
        return copy.deepcopy(obj)
    try:
        out = conversion.convert(obj, r.api_version)
        return copy.deepcopy(out) if out is obj else out
    except conversion.ConversionError:
        out = copy.deepcopy(obj)
        out["apiVersion"] = r.api_version
        return out


def _drop_conversion_annotations(r: ResourceInfo, obj: dict[str, Any]) -> None:
    # Upstream strips the annotations that carry v2-only HPA fields through v1 from every write.
    if r.kind == "HorizontalPodAutoscaler" and r.version == "v2":
        from navarch.api import conversion

        cleaned = conversion.drop_round_trip_annotations(obj)
        if cleaned is not obj:
            obj.clear()
            obj.update(cleaned)
