import pytest

from navarch.api import goprint


@pytest.mark.parametrize("value,text", [
    ({"spec": {"replicas": "abc", "b": [1, "x", None, True]}}, "map[spec:map[b:[1 x <nil> true] replicas:abc]]"),
    ({}, "map[]"),
    ([], "[]"),
    (3, "3"),
    (1.5, "1.5"),
    (123456, "123456"),
    (1000000, "1e+06"),
    (1234567.5, "1.2345675e+06"),
    (0.0001, "0.0001"),
    (0.00001, "1e-05"),
    (-2.5e-7, "-2.5e-07"),
    (0.25, "0.25"),
    (False, "false"),
])
def test_values_print_as_go_prints_decoded_json(value, text):
    assert goprint.value(value) == text
