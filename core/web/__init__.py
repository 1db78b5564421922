"""Publishing over the web: `tessera serve` shows what networks chose to publish.

`create_app(services)` builds the Starlette application; `WebServer` runs it with uvicorn on
the running event loop; `core.web.publications` decides which links exist.
"""
from core.web.app import create_app, web_settings
from core.web.server import WebServer, serve

__all__ = ["create_app", "web_settings", "WebServer", "serve"]
