"""`/api/v1/` endpoints of this app (accounts, Virtual Accounts, members, events, API clients)."""

from django.urls import path

from . import api_clients

urlpatterns: list = [
    path(
        "api/v1/accounts/<id:account_id>/api-clients/",
        api_clients.ApiClientListView.as_view(),
        name="api_api_clients",
    ),
    path(
        "api/v1/accounts/<id:account_id>/api-clients/<id:api_client_id>/revoke/",
        api_clients.ApiClientRevokeView.as_view(),
        name="api_api_client_revoke",
    ),
]
