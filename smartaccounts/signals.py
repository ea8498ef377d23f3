"""Signals other apps answer, so smartaccounts never imports them.

Licensing keeps licenses, product instances, tokens and orders in Virtual Accounts; the tree
services here must know whether a VA still holds any before deleting it, and must let licensing
clear its rows when it goes. Both happen through these signals (receivers run in the sender's
transaction, under its tree lock).
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `virtual_account`; each receiver returns a list of what the VA still holds, in words
# (e.g. "3 licenses"), empty when nothing. A VA that holds anything cannot be deleted.
virtual_account_holdings_requested = Signal()

# Sent with `virtual_account` just before an empty VA leaves the tree: receivers delete what they
# keep for it that holds nothing (licensing: its all-zero balance rows).
virtual_account_deleting = Signal()
