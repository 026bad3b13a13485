"""Importers of option-chain files into the chain store (:mod:`cache.chains`)."""
