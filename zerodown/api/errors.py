"""The one exception the API answers with: an HTTP status and a message naming the field."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def body(self) -> dict:
        return {"error": {"message": self.message, "field": self.field}}
