"""Pure rules of identity and access: no I/O, no clock, no database (unit-tested directly)."""
