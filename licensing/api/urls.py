from django.urls import path

from .views import DeviceRegistrationView

urlpatterns = [
    path("api/v1/devices/register/", DeviceRegistrationView.as_view(), name="api_device_register"),
]
