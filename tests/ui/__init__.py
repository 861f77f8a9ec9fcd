"""The web page (`checkpoint-kv ui`) driven in a real browser: Playwright and Debian's chromium."""
