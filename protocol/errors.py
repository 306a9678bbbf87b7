"""Stable error codes, shared by REST responses and websocket error replies.

A code never changes meaning once published; clients switch on it, not on messages.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # request shape
    VALIDATION_ERROR = "validation_error"
    MALFORMED_JSON = "malformed_json"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # authentication
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    # authorisation and lookup
    PERMISSION_DENIED = "permission_denied"
    INVALID_PIN = "invalid_pin"
    NOT_FOUND = "not_found"
    # state conflicts
    CONFLICT = "conflict"
    USERNAME_TAKEN = "username_taken"
    INSUFFICIENT_STOCK = "insufficient_stock"
    BARCODE_TAKEN = "barcode_taken"
    SKU_TAKEN = "sku_taken"
    IN_USE = "in_use"
    INVALID_IMAGE = "invalid_image"
    CREDIT_LIMIT_EXCEEDED = "credit_limit_exceeded"
    PHONE_TAKEN = "phone_taken"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    INSUFFICIENT_BONUS = "insufficient_bonus"
    BONUS_CAP_EXCEEDED = "bonus_cap_exceeded"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    STALE_VERSION = "stale_version"
    CART_CLOSED = "cart_closed"
    JOB_FINISHED = "job_finished"
    JOB_TAKEN = "job_taken"
    INVALID_TRANSITION = "invalid_transition"
    VALUE_OUT_OF_RANGE = "value_out_of_range"
    # realtime
    MALFORMED_FRAME = "malformed_frame"
    UNKNOWN_TYPE = "unknown_type"
    CHANNEL_INVALID = "channel_invalid"
    NOT_SUBSCRIBED = "not_subscribed"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    # server side
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.TOKEN_INVALID: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_REVOKED: 401,
    ErrorCode.TOO_MANY_ATTEMPTS: 429,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.INVALID_PIN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.USERNAME_TAKEN: 409,
    ErrorCode.INSUFFICIENT_STOCK: 409,
    ErrorCode.BARCODE_TAKEN: 409,
    ErrorCode.SKU_TAKEN: 409,
    ErrorCode.IN_USE: 409,
    ErrorCode.INVALID_IMAGE: 400,
    ErrorCode.CREDIT_LIMIT_EXCEEDED: 409,
    ErrorCode.PHONE_TAKEN: 409,
    ErrorCode.INSUFFICIENT_BALANCE: 409,
    ErrorCode.INSUFFICIENT_BONUS: 409,
    ErrorCode.BONUS_CAP_EXCEEDED: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 409,
    ErrorCode.STALE_VERSION: 409,
    ErrorCode.CART_CLOSED: 409,
    ErrorCode.JOB_FINISHED: 409,
    ErrorCode.JOB_TAKEN: 409,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.VALUE_OUT_OF_RANGE: 409,
    ErrorCode.MALFORMED_FRAME: 400,
    ErrorCode.UNKNOWN_TYPE: 400,
    ErrorCode.CHANNEL_INVALID: 400,
    ErrorCode.NOT_SUBSCRIBED: 409,
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: 429,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL_ERROR: 500,
}
