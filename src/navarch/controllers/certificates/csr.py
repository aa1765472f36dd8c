"""What the certificates controllers share about a CertificateSigningRequest: its parsed request,
its conditions, and upstream's checks of which requests each built-in signer accepts
(``pkg/apis/certificates/helpers.go``: ``ValidateKubeletClientCSR``, ``ValidateKubeletServingCSR``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

CSRS = "certificates.k8s.io/v1/certificatesigningrequests"

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"

NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"

_KUBELET_CLIENT_USAGES = ({"digital signature", "key encipherment", "client auth"},
                          {"digital signature", "client auth"})
_KUBELET_SERVING_USAGES = ({"digital signature", "key encipherment", "server auth"},
                           {"digital signature", "server auth"})
_APISERVER_CLIENT_ALLOWED = {"digital signature", "key encipherment", "client auth"}

Obj = Mapping[str, Any]


class InvalidRequest(ValueError):
    """The request is not one the signer (or approver) accepts; the message says why, as upstream's."""


def spec(csr: Obj) -> Mapping[str, Any]:
    return csr.get("spec") or {}


def conditions(csr: Obj) -> list[Mapping[str, Any]]:
    return list((csr.get("status") or {}).get("conditions") or [])


def has_condition(csr: Obj, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status", "True") == "True" for c in conditions(csr))


def is_approved(csr: Obj) -> bool:
    return has_condition(csr, "Approved")


def is_denied(csr: Obj) -> bool:
    return has_condition(csr, "Denied")


def is_failed(csr: Obj) -> bool:
    return has_condition(csr, "Failed")


def is_issued(csr: Obj) -> bool:
    return bool((csr.get("status") or {}).get("certificate"))


def usages(csr: Obj) -> list[str]:
    return [str(u) for u in spec(csr).get("usages") or []]


def parse_request(csr: Obj) -> x509.CertificateSigningRequest:
    """``spec.request``: base64 of a PEM ``CERTIFICATE REQUEST`` block."""
    raw = spec(csr).get("request") or ""
    try:
        pem = base64.b64decode(raw, validate=True)
        return x509.load_pem_x509_csr(pem)
    except (ValueError, TypeError) as e:
        raise InvalidRequest(f"unable to parse csr: {e}") from None


def subject_cn(req: x509.CertificateSigningRequest) -> str:
    values = req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def subject_orgs(req: x509.CertificateSigningRequest) -> list[str]:
    return [str(a.value) for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def _sans(req: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        return req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _san_counts(req: x509.CertificateSigningRequest) -> dict[str, int]:
    sans = _sans(req)
    if sans is None:
        return {"dns": 0, "ip": 0, "email": 0, "uri": 0}
    return {"dns": len(sans.get_values_for_type(x509.DNSName)),
            "ip": len(sans.get_values_for_type(x509.IPAddress)),
            "email": len(sans.get_values_for_type(x509.RFC822Name)),
            "uri": len(sans.get_values_for_type(x509.UniformResourceIdentifier))}


def validate_kubelet_client(req: x509.CertificateSigningRequest, usage: list[str]) -> None:
    """A kubelet's client certificate: O exactly system:nodes, CN system:node:<name>, no SANs, and
    exactly the client usages (with or without key encipherment)."""
    if subject_orgs(req) != [NODES_GROUP]:
        raise InvalidRequest("subject organization is not system:nodes")
    san = _san_counts(req)
    for kind, what in (("dns", "DNS"), ("email", "Email"), ("ip", "IP"), ("uri", "URI")):
        if san[kind]:
            raise InvalidRequest(f"{what} subjectAltNames are not allowed")
    if not subject_cn(req).startswith(NODE_PREFIX):
        raise InvalidRequest("subject common name does not begin with system:node:")
    if set(usage) not in _KUBELET_CLIENT_USAGES:
        raise InvalidRequest("usages did not match [client auth digital signature key encipherment]")


def validate_kubelet_serving(req: x509.CertificateSigningRequest, usage: list[str]) -> None:
    """A kubelet's serving certificate: O exactly system:nodes, a DNS or IP SAN, no email or URI
    SANs, exactly the server usages, CN system:node:<name>."""
    if subject_orgs(req) != [NODES_GROUP]:
        raise InvalidRequest("subject organization is not system:nodes")
    san = _san_counts(req)
    if not san["dns"] and not san["ip"]:
        raise InvalidRequest("DNS or IP subjectAltName is required")
    if san["email"]:
        raise InvalidRequest("Email subjectAltNames are not allowed")
    if san["uri"]:
        raise InvalidRequest("URI subjectAltNames are not allowed")
    if set(usage) not in _KUBELET_SERVING_USAGES:
        raise InvalidRequest("usages did not match [digital signature key encipherment server auth]")
    if not subject_cn(req).startswith(NODE_PREFIX):
        raise InvalidRequest("subject common name does not begin with system:node:")


def validate_apiserver_client(usage: list[str]) -> None:
    """Any client certificate: only client usages, client auth among them."""
    extra = sorted(set(usage) - _APISERVER_CLIENT_ALLOWED)
    if extra:
        raise InvalidRequest(f"invalid usage for client certificate: {extra[0]}")
    if "client auth" not in usage:
        raise InvalidRequest("missing required usage for client certificate: client auth")
