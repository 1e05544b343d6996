"""A won deal as every CRM's event is read into (PRODUCT §14): the generic webhook's body
(version 1) validated field by field, and a Salesforce opportunity's fields mapped onto it.
HubSpot's deal is built by its API client (`bot.hubspot`) from what it reads."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from commands.account_fields import is_email

MAX_ITEMS = 50
"""Contacts, promises and products per deal, as the handoff form takes them."""
MAX_AMOUNT = Decimal("99999999999999")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _email(value: str) -> str:
    if not is_email(value):
        raise ValueError("must be an e-mail address such as name@example.com")
    return value


Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(_email)
]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern="^[A-Z]{3}$")
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DealFacts(_Model):
    id: Id
    name: Name
    amount: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False)
    currency: Currency | None = None
    close_date: date | None = None
    owner_email: Email | None = None
    """None: the CRM has no owner for it (the managers are told)."""
    contract_start: date | None = None
    renewal_date: date | None = None
    products: list[Name] = Field(default_factory=list, max_length=MAX_ITEMS)


class DealAccount(_Model):
    id: Id
    name: Name
    domain: Annotated[str, StringConstraints(max_length=253)] | None = None


class DealContact(_Model):
    name: Name
    role: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    email: Email | None = None


class DealPromise(_Model):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    due: date | None = None
    repeat: Literal["week", "month"] | None = None


class WonDeal(_Model):
    """Version 1 of the generic webhook's body, and what every source is read into."""

    type: Literal["deal.won"]
    deal: DealFacts
    account: DealAccount
    contacts: list[DealContact] = Field(default_factory=list, max_length=MAX_ITEMS)
    promises: list[DealPromise] = Field(default_factory=list, max_length=MAX_ITEMS)


def read_won_deal(body: Any) -> WonDeal | dict[str, str]:
    """The deal, or field path (`deal.amount`, `contacts.0.email`) → what is wrong there."""
    try:
        return WonDeal.model_validate(body)
    except ValidationError as exc:
        return {_path(error["loc"]): error["msg"] for error in exc.errors()}


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


# ---- Salesforce -----------------------------------------------------------------------------

SALESFORCE_FIELDS = {
    "Id": "the opportunity's id",
    "Name": "the opportunity's name",
    "IsWon": "true when won",
    "Amount": "its amount",
    "CurrencyIsoCode": "its currency, in multi-currency orgs",
    "CloseDate": "its close date",
    "AccountId": "the account's id (the Kakehashi account's CRM id)",
    "Kakehashi_Account_Name__c": "formula field: Account.Name",
    "Kakehashi_Owner_Email__c": "formula field: Owner.Email",
    "Kakehashi_Contract_Start__c": "optional date field",
    "Kakehashi_Renewal_Date__c": "optional date field",
    "Kakehashi_Products__c": "optional text: products separated by semicolons",
}
"""What the Outbound Message sends (README "CRM"): an Outbound Message carries the fields of
the opportunity itself only, so the account's name and the owner's email come from formula
fields on it."""


def salesforce_deal(fields: dict[str, str]) -> WonDeal | dict[str, str] | None:
    """The won deal in an opportunity's fields; None when it is not won."""
    if fields.get("IsWon", "").lower() != "true":
        return None
    products = fields.get("Kakehashi_Products__c", "").replace("\n", ";").split(";")
    body = {
        "type": "deal.won",
        "deal": {
            "id": fields.get("Id"),
            "name": fields.get("Name"),
            "amount": fields.get("Amount") or None,
            "currency": fields.get("CurrencyIsoCode") or None,
            "close_date": fields.get("CloseDate") or None,
            "owner_email": fields.get("Kakehashi_Owner_Email__c"),
            "contract_start": fields.get("Kakehashi_Contract_Start__c") or None,
            "renewal_date": fields.get("Kakehashi_Renewal_Date__c") or None,
            "products": [p.strip() for p in products if p.strip()],
        },
        "account": {"id": fields.get("AccountId"), "name": fields.get("Kakehashi_Account_Name__c")},
    }
    return read_won_deal(body)
