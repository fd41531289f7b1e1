"""Embedded exchange simulators speaking the real Binance and Lighter wire protocols on 127.0.0.1.

They are independent witnesses: nothing here imports the connectors or the compiled hot path, so a
protocol mistake made in both cannot pass unseen.
"""
