"""Business errors that become a Bybit envelope with a non-zero retCode."""

from __future__ import annotations


class ApiError(Exception):
    """A request refused with a documented Bybit retCode (HTTP 200 unless ``http_status``)."""

    def __init__(self, code: int, msg: str, http_status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


def params_error(detail: str) -> ApiError:
    return ApiError(10001, f"params error: {detail}")
