"""What a printer is: its column definitions and the function that turns one object into cells.

The API server always renders every column, wide ones included (upstream generates server-side tables
with ``Wide: true``); kubectl hides columns whose ``priority`` is not 0 unless ``-o wide``. So a cell
function returns one cell per column, in column order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Cell functions take the object and "now" as seconds since the epoch: converting ``now`` once per
# table instead of once per timestamp keeps big lists cheap.
CellsFn = Callable[[dict[str, Any], float], list[Any]]
ConditionsFn = Callable[[dict[str, Any]], list[dict[str, Any]] | None]

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically."
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is represented in RFC3339 form and is in UTC."
)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = "string"
    description: str = ""
    format: str = ""
    priority: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True, slots=True)
class Printer:
    columns: tuple[Column, ...]
    cells: CellsFn
    # Row conditions (upstream marks finished pods ``Completed``); None for most kinds.
    conditions: ConditionsFn | None = None


def name_column(priority: int = 0) -> Column:
    return Column("Name", "string", NAME_DESCRIPTION, "name", priority)


def age_column() -> Column:
    return Column("Age", "string", AGE_DESCRIPTION)


def wide(name: str, description: str, type: str = "string") -> Column:
    """A column kubectl shows only with ``-o wide``."""
    return Column(name, type, description, priority=1)


def col(name: str, description: str, type: str = "string") -> Column:
    return Column(name, type, description)


def container_columns() -> tuple[Column, Column]:
    """The wide CONTAINERS and IMAGES columns every workload printer ends with."""
    return (wide("Containers", "Names of each container in the template."),
            wide("Images", "Images referenced by each container in the template."))
