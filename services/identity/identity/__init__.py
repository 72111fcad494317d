"""The identity service: user management (A6R-1), identification and authentication (A6R-2) and user
authorization (A6R-12 to A6R-15)."""
