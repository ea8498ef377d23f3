"""Cisco-compatible paths (`/services/api/smart-accounts-and-licensing/v1|v2|v3/...`).

A thin translation layer: Cisco's paths, bodies, envelope and key names (../shared/CSSM_API.md, as
public clients call them) mapped onto the native API's serializers and the services. It spans all
three apps, so it lives beside the URL configuration that joins them.
"""
