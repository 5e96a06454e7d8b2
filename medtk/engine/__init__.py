"""The engine every task family trains, predicts and evaluates through.

Modules import torch; import them inside task methods, never at CLI start-up.
"""
