import pytest

from navarch.api.validation import names

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


@pytest.mark.parametrize("fn,value,expected", [
    (names.is_dns1123_label, "web-1", []),
    (names.is_dns1123_label, "Web", [LABEL_MSG]),
    (names.is_dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
    (names.is_dns1123_subdomain, "a.b-c.d", []),
    (names.is_dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
    (names.is_dns1035_label, "1abc", [names.DNS1035_LABEL_MSG]),
    (names.is_valid_label_value, "", []),
    (names.is_valid_label_value, "-x", [names.LABEL_VALUE_MSG]),
    (names.is_valid_port_num, 0, ["must be between 1 and 65535, inclusive"]),
    (names.is_config_map_key, "a/b", [names.CONFIGMAP_KEY_MSG]),
    (names.is_config_map_key, "..x", ["must not start with '..'"]),
    (names.is_env_var_name, "MY VAR", []),
    (names.is_env_var_name, "A=B", ["a valid environment variable name must consist only of printable ASCII "
                                    "characters other than '='"]),
])
def test_syntax(fn, value, expected):
    assert fn(value) == expected


def test_qualified_name_parts():
    assert names.is_qualified_name("example.com/name") == []
    assert names.is_qualified_name("/name") == ["prefix part must be non-empty"]
    assert names.is_qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert names.is_qualified_name("x" * 64) == ["name part must be no more than 63 characters"]
    assert names.is_qualified_name("Bad_.") == ["name part " + names.QUALIFIED_NAME_MSG]


def test_generate_name_prefix_may_end_with_dash():
    assert names.name_is_dns_subdomain("web-", prefix=True) == []
    assert names.name_is_dns_subdomain("web-", prefix=False) != []


def test_port_names():
    assert names.is_valid_port_name("http") == []
    assert names.is_valid_port_name("80") == ["must contain at least one letter (a-z)"]
    assert "must not contain consecutive hyphens" in names.is_valid_port_name("a--b")
