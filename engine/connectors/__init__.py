"""Exchange connectors behind one contract (``BaseConnector``); built by ``ConnectorFactory``."""
