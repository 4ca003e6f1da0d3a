"""The engine as one running service: wiring (`tpo run`), metrics, health, scheduling."""
