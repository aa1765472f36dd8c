"""Read helpers over an informer's cache: what ``sync(key)`` uses instead of asking the server.

Everything returned is the shared cached object: copy before mutating (``navarch.machinery.cache``).
"""

from __future__ import annotations

import builtins
from typing import Any, Mapping

from navarch.api import selectors
from navarch.api.resources import ResourceInfo
from navarch.machinery.cache import Obj
from navarch.machinery.indexer import NAMESPACE_INDEX, Indexer

Selector = str | Mapping[str, Any] | selectors.LabelSelector | None


def as_label_selector(selector: Selector) -> selectors.LabelSelector:
    """None selects everything; a string is the query syntax (``app=web,tier!=db``); a mapping is a
    ``metav1.LabelSelector`` (``matchLabels``/``matchExpressions``). Bad input raises the API's 400
    ``StatusError``."""
    if selector is None:
        return selectors.EVERYTHING
    if isinstance(selector, selectors.LabelSelector):
        return selector
    if isinstance(selector, str):
        return selectors.parse_label_selector(selector)
    return selectors.label_selector_from_object(selector)


class Lister:
    def __init__(self, indexer: Indexer, res: ResourceInfo | None = None) -> None:
        self.indexer = indexer
        self.res = res

    def get(self, namespace: str | None, name: str) -> Obj | None:
        """The cached object or None (namespace None for cluster-scoped resources)."""
        return self.indexer.get(f"{namespace}/{name}" if namespace else name)

    def list(self, namespace: str | None = None, selector: Selector = None) -> list[Obj]:
        sel = as_label_selector(selector)
        if namespace:
            candidates = self.indexer.by_index(NAMESPACE_INDEX, namespace)
        else:
            candidates = self.indexer.list()
        if sel.empty:
            return candidates
        return [o for o in candidates if sel.matches((o.get("metadata") or {}).get("labels"))]

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        return self.indexer.by_index(index, value)
