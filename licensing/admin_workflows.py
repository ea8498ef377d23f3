"""Admin pages of hand-overs, PAKs and reservations."""
