"""The console's own files (static/) and its npm-installed chart library (assets/).

Nothing is fetched from a CDN: Chart.js is installed from the npm registry
by `npm ci` in `assets/` (`make run` and `make test` do it) and served from
there. Without it the Insights page says how to install it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

HERE = Path(__file__).parent
OWN_FILES = {
    "console.css": "text/css",
    "live.js": "text/javascript",
    "insights.js": "text/javascript",
}
NPM_FILES = {
    "chart.umd.min.js": (HERE / "assets/node_modules/chart.js/dist/chart.umd.min.js"),
}
CACHE = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}


async def own_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in OWN_FILES:
        return PlainTextResponse("not found", 404)
    return FileResponse(HERE / "static" / name, media_type=OWN_FILES[name], headers=CACHE)


async def npm_file(request: Request) -> Response:
    path = NPM_FILES.get(request.path_params["name"])
    if path is None:
        return PlainTextResponse("not found", 404)
    if not path.is_file():
        message = f"{path.name} is not installed: run `npm ci` in {HERE / 'assets'} (make run does)"
        return PlainTextResponse(message, 404)
    return FileResponse(path, media_type="text/javascript", headers=CACHE)
