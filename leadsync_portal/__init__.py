from .celery import app as celery_app

# The release this code is: reported as the MCP server's serverInfo.version and by /metrics
# (leadsync_build_info). Raised with each release.
__version__ = "1.1.0"

__all__ = ("celery_app", "__version__")
