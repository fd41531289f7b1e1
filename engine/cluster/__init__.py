"""Scale-out over NATS: feed processes publish books and trades, an order gateway per account takes orders
from strategies in other processes (docs/deploy.md). Needs the ``cluster`` extra."""
