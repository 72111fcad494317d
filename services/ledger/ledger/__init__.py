"""The ledger: transaction management (A6R-16) over units, accounts and their tracking (A6R-18): the
only holder of accounts and unit blocks."""
