"""The saver's contract: LangGraph's conformance suite, the port contract, model-based and scenario
tests, the option matrix, configuration and the public API, each on every backend.
"""
