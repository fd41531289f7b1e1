"""Fault injection between the connectors and the simulators: a TCP proxy of our own (proxy.py) and the tests
that drive every venue's sockets through its faults."""
