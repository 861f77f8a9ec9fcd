"""Hostile input, secrets (no pickle, encryption, redaction of credentials) and tenant isolation."""
