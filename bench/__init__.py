"""`make bench`: the ledger's throughput, latency and fragmentation against pgbench (issue 3).

Run as `python -m bench`; sizes and durations come from BENCH_* environment variables (see
`bench.config`).
"""
