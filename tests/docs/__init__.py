"""The documentation's code: every Python block of README.md, docs/*.md and docs/backends/*.md
runs as written (imports included), against memory, SQLite and a real Redis, and moto for AWS."""
