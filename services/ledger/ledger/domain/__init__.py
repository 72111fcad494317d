"""The ledger's pure domain: accounts, unit blocks, A6R-52 selection and the built-in rules.

Standard library only, no I/O: the service layer feeds it data and persists what it returns.
"""
