from .catalog import License, LicenseClass, Sku
from .counters import InstanceCount
from .handover import HandOver, HandOverLine
from .instances import InstanceDeadline, ProductInstance, ProductInstanceUsage, RegistrationToken
from .ledger import LedgerEntry, LicenseAccountTotal, LicenseBalance, LicenseLot
from .orders import Order, OrderLine
from .paks import Pak, PakLine
from .reservations import Reservation, ReservationLine

__all__ = [
    "HandOver",
    "HandOverLine",
    "InstanceCount",
    "InstanceDeadline",
    "LedgerEntry",
    "License",
    "LicenseAccountTotal",
    "LicenseBalance",
    "LicenseClass",
    "LicenseLot",
    "Order",
    "OrderLine",
    "Pak",
    "PakLine",
    "ProductInstance",
    "ProductInstanceUsage",
    "RegistrationToken",
    "Reservation",
    "ReservationLine",
    "Sku",
]
