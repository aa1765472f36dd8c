import pytest

from navarch.api import errors as api_errors
from navarch.client import errors


@pytest.mark.parametrize("status_error,check", [
    (api_errors.not_found("pods", "", "a"), errors.is_not_found),
    (api_errors.already_exists("pods", "", "a"), errors.is_already_exists),
    (api_errors.conflict("pods", "", "a"), errors.is_conflict),
    (api_errors.gone("too old"), errors.is_gone),
    (api_errors.invalid("Pod", "", "a", []), errors.is_invalid),
    (api_errors.forbidden("no"), errors.is_forbidden),
], ids=["not-found", "already-exists", "conflict", "gone", "invalid", "forbidden"])
def test_helpers_recognise_server_statuses(status_error, check):
    err = errors.ApiError(status_error.to_status())
    assert check(err)
    others = [errors.is_not_found, errors.is_already_exists, errors.is_conflict, errors.is_gone]
    assert [c for c in others if c is not check and c(err)] == []
    assert err.code == status_error.code and err.message == status_error.message


def test_bare_bodies_get_upstream_reasons():
    err = errors.ApiError.from_response(404, b"404 page not found")
    assert errors.is_not_found(err) and err.reason == "NotFound"
    assert "could not find" in err.message
    err = errors.ApiError.from_response(418, b"teapot")
    assert err.code == 418 and err.message == "teapot"
    assert not errors.is_not_found(ValueError())


def test_gone_from_a_watch_error_event_and_unknown_reason_by_code():
    assert errors.is_gone(errors.ApiError({"code": 410, "reason": "Gone"}))
    assert errors.is_conflict(errors.ApiError({"code": 409, "reason": "SomethingNew"}))
    assert not errors.is_conflict(errors.ApiError({"code": 409, "reason": "AlreadyExists"}))


def test_retry_after_from_details():
    err = errors.ApiError({"code": 429, "reason": "TooManyRequests", "details": {"retryAfterSeconds": 3}})
    assert err.retry_after_seconds == 3 and errors.is_too_many_requests(err)
