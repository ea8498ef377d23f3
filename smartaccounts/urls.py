from django.urls import path

from . import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("accounts/request/", views.AccountRequestView.as_view(), name="account_request"),
    path("accounts/<int:account_id>/", views.AccountHomeView.as_view(), name="account_home"),
]
