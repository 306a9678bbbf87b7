"""HTTP and websocket transport: Starlette only. Open `routes.py` first."""
