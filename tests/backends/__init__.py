"""What one backend promises beyond the contract (Redis, DynamoDB, S3: round trips, TTL, errors,
bring-your-own clients) and the storage format on every backend.
"""
