"""HTTP app and command line: wires the engine and the cache together, holds no domain logic."""
