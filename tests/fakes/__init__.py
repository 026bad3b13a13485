"""Fakes the tests run against instead of the outside world (a Deribit server on 127.0.0.1)."""
