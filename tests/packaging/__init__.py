"""Installs and imports: the wheel, imports from anywhere, mypy on a user's app, renamed and moved
names.
"""
