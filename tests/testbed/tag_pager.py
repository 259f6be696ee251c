"""A loopback front that adds tag-list pagination to a registry that has none.

Distribution 2.8 (Debian's ``docker-registry``) answers ``GET /v2/<name>/tags/list`` with every
tag at once and ignores ``n`` and ``last``; DOCR, Docker Hub and distribution 3 paginate.  This
front forwards every request to the real registry unchanged, except that tag lists follow the
distribution spec's pagination: tags in lexical order, only those after ``last``, at most
``min(n, page_size)`` of them (a registry may cap the page), and ``Link: <...>; rel="next"`` while
more remain (a path, or an absolute URL with ``absolute_links``; ``link`` writes the header
itself, as a hostile registry would).  ``requests`` records every
``(method, path)`` the front received.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from .httpserve import LoopbackHTTPServer, LoopbackService, QuietHandler

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
        "content-encoding"}


class _Handler(QuietHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        pager = self.server.pager
        pager.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        url = urlsplit(self.path)
        paged = self.command == "GET" and url.path.endswith("/tags/list")
        target = url.path if paged else self.path
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        upstream = requests.request(self.command, f"http://{pager.upstream}{target}",
                                    headers=headers, data=body, allow_redirects=False,
                                    timeout=60)
        content = upstream.content
        extra: dict[str, str] = {}
        if paged and upstream.status_code == 200:
            content, link = pager.page(url.path, parse_qs(url.query), upstream.json())
            if link:
                extra["Link"] = link
        self.send_response(upstream.status_code)
        for key, value in upstream.headers.items():
            if key.lower() not in _HOP:
                self.send_header(key, value)
        for key, value in extra.items():
            self.send_header(key, value)
        # a HEAD answer carries the length the GET would have
        length_out = upstream.headers.get("Content-Length", "0") if self.command == "HEAD" \
            else str(len(content))
        self.send_header("Content-Length", length_out)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


class _Server(LoopbackHTTPServer):
    pager: TagPager


class TagPager(LoopbackService[_Server]):
    """``with TagPager(registry.host, page_size=2) as front:`` a paginating front on ``front.host``."""

    def __init__(self, upstream: str, page_size: int = 2, absolute_links: bool = False,
                 link: Callable[[str], str] | None = None) -> None:
        self.upstream = upstream
        self.page_size = page_size
        self.absolute_links = absolute_links
        self.link = link  # the next page's path -> the whole Link header (a hostile server's)
        self.requests: list[tuple[str, str]] = []
        self.host = ""

    def page(self, path: str, query: dict[str, list[str]], listing: dict[str, Any]
             ) -> tuple[bytes, str | None]:
        tags = sorted(listing.get("tags") or [])
        size = min(int(query.get("n", [str(self.page_size)])[-1]), self.page_size)
        last = query.get("last", [""])[-1]
        after = [t for t in tags if t > last] if last else tags
        chunk = after[:size]
        link = None
        if chunk and len(after) > len(chunk):
            next_path = f"{path}?{urlencode({'n': size, 'last': chunk[-1]})}"
            if self.absolute_links:
                next_path = f"http://{self.host}{next_path}"
            link = self.link(next_path) if self.link else f'<{next_path}>; rel="next"'
        return json.dumps({"name": listing.get("name"), "tags": chunk}).encode(), link

    def _new_server(self) -> _Server:
        server = _Server(_Handler)
        server.pager = self
        self.host = f"127.0.0.1:{server.port}"
        return server
