"""URLs of the workflows that move licenses in or out of ordinary use: hand-overs, PAKs, reservations."""

urlpatterns: list = []
