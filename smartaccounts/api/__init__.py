"""The JSON API of Smart Accounts: the base every `/api/v1/` view builds on, and this app's endpoints."""
