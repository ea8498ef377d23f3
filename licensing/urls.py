from django.urls import include, path

urlpatterns = [
    path("", include("licensing.urls_workflows")),
]
