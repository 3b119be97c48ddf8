"""HTTP routes, one module per idea; each exposes an ``APIRouter`` or a mount function."""
