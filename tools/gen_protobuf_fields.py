"""Regenerate ``src/navarch/apiserver/protobuf/fields.py`` from the protobuf descriptors kubectl carries.

Every Go binary built from k8s.io/api registers the gzipped ``FileDescriptorProto`` of each
``generated.proto``, with the gogo-protobuf options that go-to-protobuf emitted (``nullable=false`` marks a
non-pointer Go field). Those options are stripped from the published .proto text, and the decoder needs
them to tell a pointer ``0`` (kept in JSON) from a non-pointer ``0`` (dropped by ``omitempty``), so this
script reads the descriptors out of a kubectl binary rather than out of .proto files.

Only messages reachable from the kinds navarch decodes are written. JSON names come from the OpenAPI
schema: a proto field that the schema does not name is an embedded ``json:",inline"`` struct; a proto
message where the schema has an array is a named-slice wrapper (``ExtraValue``).

Usage: .venv/bin/python tools/gen_protobuf_fields.py [path/to/kubectl] > src/navarch/apiserver/protobuf/fields.py
"""

from __future__ import annotations

import shutil
import sys
import zlib
from typing import Any

from google.protobuf import descriptor_pb2

from navarch.api import resources
from navarch.api.schema import Schema, load_schema

_GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
# gogoproto.nullable (field option 65001, varint) set to false: tag bytes then 0.
_NOT_NULLABLE = b"\xc8\xde\x1f\x00"
# Field flags, rendered into the generated module's header too.
REPEATED, POINTER, INLINE, WRAPPED = 1, 2, 4, 8
_TYPE_NAMES = {v: k[len("TYPE_"):].lower() for k, v in descriptor_pb2.FieldDescriptorProto.Type.items()}

# Bodies that are not resources of the registry but are posted or deleted with.
EXTRA_ROOTS = (
    ("", "v1", "DeleteOptions"),
    ("", "v1", "Status"),
    ("", "v1", "Binding"),
    ("policy", "v1", "Eviction"),
    ("autoscaling", "v1", "Scale"),
    ("authentication.k8s.io", "v1", "TokenRequest"),
)
# Messages the decoder renders itself; their fields are listed but not followed further.
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "k8s.io.apimachinery.pkg.runtime.RawExtension",
}


def descriptors(binary: bytes) -> dict[str, descriptor_pb2.DescriptorProto]:
    """Every message (nested ones too) of every embedded k8s.io descriptor, by full name."""
    out: dict[str, descriptor_pb2.DescriptorProto] = {}
    at = binary.find(_GZIP)
    while at >= 0:
        try:
            raw = zlib.decompressobj(31).decompress(binary[at:at + 4_000_000])
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        except Exception:  # most gzip-looking byte runs are not descriptors
            fd = None
        if fd is not None and fd.name.startswith("k8s.io/") and fd.name.endswith(".proto"):
            stack = [(fd.package, m) for m in fd.message_type]
            while stack:
                prefix, m = stack.pop()
                out[f"{prefix}.{m.name}"] = m
                stack.extend((f"{prefix}.{m.name}", n) for n in m.nested_type)
        at = binary.find(_GZIP, at + 1)
    return out


def definition_name(message: str) -> str:
    return "io.k8s." + message[len("k8s.io."):]


def roots(schema: Schema) -> list[str]:
    kinds = [(r.group, r.version, r.kind) for r in resources.RESOURCES] + list(EXTRA_ROOTS)
    out = []
    for gvk in kinds:
        name = schema.definition_for(*gvk)
        if name is None:
            raise SystemExit(f"no schema definition for {gvk}")
        out.append("k8s.io." + name[len("io.k8s."):])
    return out


def build(messages: dict[str, descriptor_pb2.DescriptorProto],
          schema: Schema) -> dict[str, dict[int, tuple[str, str, int, str]]]:
    table: dict[str, dict[int, tuple[str, str, int, str]]] = {}
    # An inlined struct (VolumeSource) often has no definition of its own: its JSON names are its parent's.
    inherited: dict[str, dict[str, Any]] = {}
    todo = roots(schema)
    while todo:
        name = todo.pop()
        if name in table:
            continue
        msg = messages[name]
        props = schema.definitions.get(definition_name(name), {}).get("properties") or inherited.get(name, {})
        entry: dict[int, tuple[str, str, int, str]] = {}
        for f in msg.field:
            kind = _TYPE_NAMES[f.type]
            ref = f.type_name.lstrip(".")
            flag = 0
            if f.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
                flag |= REPEATED
            if _NOT_NULLABLE not in f.options.SerializeToString():
                flag |= POINTER
            json_name = f.name
            if kind == "message" and messages[ref].options.map_entry:
                value = messages[ref].field[1]
                kind, ref, flag = "map", value.type_name.lstrip(".") or _TYPE_NAMES[value.type], flag & ~REPEATED
            if name not in SPECIAL and props:
                # go-to-protobuf derives a few proto names from the Go name (``uID``): match by case.
                json_name = {p.lower(): p for p in props}.get(json_name.lower(), json_name)
                if json_name not in props:
                    if kind != "message":
                        raise SystemExit(f"{name}.{f.name}: not in the schema")
                    json_name, flag = "", flag | INLINE
                    inherited[ref] = props
                else:
                    prop = schema.resolve(props[json_name])
                    if kind == "map":
                        prop = schema.resolve(prop.get("additionalProperties") or {})
                    if kind in ("message", "map") and "array" in Schema.types(prop) and not flag & REPEATED:
                        flag |= WRAPPED
            entry[f.number] = (json_name, kind, flag, ref if kind in ("message", "map") else "")
            if ref and "." in ref and name not in SPECIAL:
                todo.append(ref)
        table[name] = entry
    return table


def render(table: dict[str, dict[int, tuple[str, str, int, str]]]) -> str:
    lines = [
        '"""Field numbers of the Kubernetes protobuf messages navarch decodes (generated, do not edit).',
        "",
        "Regenerate with ``tools/gen_protobuf_fields.py``. Each message maps field number to",
        "``(json name, proto type, flags, message or map value type)``; a ``map`` field's value type is a",
        "scalar type name or a message name. The JSON names are the OpenAPI schema's.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from typing import Final",
        "",
        "# Flags.",
        f"REPEATED: Final = {REPEATED}",
        "# A Go pointer (gogo nullable): present on the wire means set, so a zero value is kept.",
        f"POINTER: Final = {POINTER}",
        '# An embedded struct whose fields JSON flattens into the parent (``json:",inline"``).',
        f"INLINE: Final = {INLINE}",
        "# A named-slice wrapper message (``ExtraValue``): JSON shows its one repeated field as a list.",
        f"WRAPPED: Final = {WRAPPED}",
        "",
        "Field = tuple[str, str, int, str]",
        "",
        "MESSAGES: Final[Mapping[str, Mapping[int, Field]]] = {",
    ]
    for name in sorted(table):
        lines.append(f"    {name!r}: {{")
        for number, spec in sorted(table[name].items()):
            lines.append(f"        {number}: {spec!r},")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    path = argv[1] if len(argv) > 1 else (shutil.which("kubectl.1.33") or shutil.which("kubectl"))
    if not path:
        raise SystemExit("usage: gen_protobuf_fields.py PATH_TO_KUBECTL")
    with open(path, "rb") as f:
        messages = descriptors(f.read())
    sys.stdout.write(render(build(messages, load_schema())))


if __name__ == "__main__":
    main(sys.argv)
