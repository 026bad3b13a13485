"""Fakes the tests run against instead of the outside world (a Deribit server on 127.0.0.1) or
a slow part of the app (an engine warm-up held open)."""
