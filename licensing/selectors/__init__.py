"""Every permission-scoped read of the licensing app."""
