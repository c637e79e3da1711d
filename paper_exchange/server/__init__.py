"""aiohttp app: REST, private and public WebSocket, control API, fault injection."""
