"""`make loadtest`: throughput under concurrency (Locust, headless) against gunicorn with the production
settings, on PostgreSQL and Redis. The runner is `python -m bench.loadtest`; the Locust file is
bench/loadtest/locustfile.py."""
