"""Real servers and artefacts on 127.0.0.1 for the tests, the demo and the benchmarks."""
