"""Money is Decimal with its currency beside it; these helpers refuse anything that would lose a cent."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_AMOUNT = Decimal("1e13")  # above what any ledger column (Numeric(19, 4)) holds


class MoneyError(ValueError):
    pass


def to_money(value: object, field: str = "amount") -> Decimal:
    """Parse an amount exactly. Floats are refused: they have already lost precision."""
    if isinstance(value, (bool, float)):
        raise MoneyError(f"{field}: {value!r} is a {type(value).__name__}; give amounts as strings or Decimal")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{field}: {value!r} is not a number") from None
    if not amount.is_finite():
        raise MoneyError(f"{field}: {value!r} is not a finite number")
    if abs(amount) >= MAX_AMOUNT:
        raise MoneyError(f"{field}: {value!r} is larger than the ledger can hold")
    if amount.as_tuple().exponent < -4:
        raise MoneyError(f"{field}: {value!r} has more than 4 decimal places")
    return amount


MAX_RATE_PLACES = 10  # the ledger's exchange_rate column


def to_rate(value: object, field: str = "exchange_rate") -> Decimal:
    """Parse an exchange rate exactly: positive, finite, at most ten decimal places; floats refused."""
    if isinstance(value, (bool, float)):
        raise MoneyError(f"{field}: {value!r} is a {type(value).__name__}; give rates as strings or Decimal")
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{field}: {value!r} is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise MoneyError(f"{field}: {value!r} is not a positive number")
    if rate >= Decimal("1e9"):
        raise MoneyError(f"{field}: {value!r} is larger than the ledger can hold")
    if rate.as_tuple().exponent < -MAX_RATE_PLACES:
        raise MoneyError(f"{field}: {value!r} has more than {MAX_RATE_PLACES} decimal places")
    return rate


def money_sum(amounts) -> Decimal:
    return sum((Decimal(a) for a in amounts), Decimal("0"))


CENTS = Decimal("0.01")


def shown(amount: Decimal | str | int) -> str:
    """An amount as a person reads it: cents, unless it has finer digits (a column keeps 4 places)."""
    value = Decimal(str(amount))
    return str(value.quantize(CENTS)) if value == value.quantize(CENTS) else str(value.normalize())
