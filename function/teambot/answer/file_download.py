"""Download one Slack file (`url_private`) with the bot token, safely.

* The token goes only to Slack's file host (files.slack.com) or, in tests and local runs, the
  host of SLACK_API_URL; any other URL is refused before a connection is made (a file object
  is data from Slack, but the token must never follow a URL we did not expect).
* url_private needs `Authorization: Bearer <token>` with files:read (Slack Platform Blog,
  "Important Changes to Files in the Web API", 2015); without it Slack redirects to a login
  page. Some downloads (Enterprise Grid) are served through a redirect to
  files-origin.slack.com. Redirects are followed by hand, at most MAX_REDIRECTS, and only to
  Slack's file hosts over https (SLACK_FILE_HOSTS), which alone get the token; a redirect
  anywhere else (the sign-in page, any other host) is "not authorized" and nothing is sent
  there. An HTML page instead of the file means "not authorized" too.
* The body is streamed and cut at `max_bytes`: a file whose declared size lied, or that grew,
  never ends up whole in memory. The caller already skipped files declared too large.
* Nothing here logs: URLs, names and content are the user's.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests

SLACK_FILE_HOST = "files.slack.com"
# Slack's file hosts: url_private's, and the origin some downloads are redirected to (issue 18).
SLACK_FILE_HOSTS = frozenset({SLACK_FILE_HOST, "files-origin.slack.com"})
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
ACCESS_REFUSED = "access refused by Slack"


class DownloadRefused(Exception):
    """Why a file could not be read, as a short phrase shown to the user ("download refused")."""


def allowed_hosts(slack_api_url: str) -> frozenset[str]:
    """files.slack.com, plus the SLACK_API_URL host:port when it is not Slack's (tests, fakes)."""
    api = urlsplit(slack_api_url)
    hosts = {SLACK_FILE_HOST}
    if api.hostname and api.hostname not in ("slack.com", "www.slack.com"):
        hosts.add(api.netloc.lower())
    return frozenset(hosts)


def check_url(url: str, hosts: frozenset[str]) -> None:
    """Refuse (before any connection) a URL that is not on a Slack file host over https, or the
    SLACK_API_URL host of tests and local runs (`hosts` minus Slack's own)."""
    parts = urlsplit(url or "")
    if parts.hostname in SLACK_FILE_HOSTS and parts.scheme == "https" and not parts.port and not parts.username:
        return
    if parts.scheme in ("http", "https") and parts.netloc.lower() in hosts - SLACK_FILE_HOSTS:
        return
    raise DownloadRefused("not on Slack's file host")


def download(
    url: str,
    token: str,
    *,
    hosts: frozenset[str],
    max_bytes: int,
    html: bool = False,
    timeout_s: float = 20.0,
) -> bytes:
    """The file's bytes, at most `max_bytes` (more raises DownloadRefused("too large"))."""
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, hosts)  # every hop: the token goes to Slack's file hosts only
        location = _fetch(url, token, hosts=hosts, max_bytes=max_bytes, html=html, timeout_s=timeout_s)
        if isinstance(location, bytes):
            return location
        url = location
    raise DownloadRefused(ACCESS_REFUSED)  # a redirect loop


def _redirect_target(url: str, response, hosts: frozenset[str]) -> str:
    """Where a redirect points, if the token may follow it there; else "not authorized" (the
    workspace sign-in page, http, any other host): nothing is sent to it."""
    target = urljoin(url, response.headers.get("Location") or "")
    try:
        check_url(target, hosts)
    except DownloadRefused:
        raise DownloadRefused(ACCESS_REFUSED) from None
    return target


def _fetch(url: str, token: str, *, hosts: frozenset[str], max_bytes: int, html: bool, timeout_s: float) -> bytes | str:
    """One hop: the file's bytes, or the URL a redirect points to (already checked)."""
    try:
        with requests.get(
            url,
            headers={"Authorization": f"Bearer {token}"},
            stream=True,
            allow_redirects=False,
            timeout=timeout_s,
        ) as response:
            if response.is_redirect:
                return _redirect_target(url, response, hosts)
            if response.status_code in (401, 403):
                raise DownloadRefused(ACCESS_REFUSED)
            if response.status_code != 200:
                raise DownloadRefused(f"download failed ({response.status_code})")
            if not html and response.headers.get("Content-Type", "").startswith("text/html"):
                raise DownloadRefused(ACCESS_REFUSED)  # the login page, not the file
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise DownloadRefused("too large")
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise DownloadRefused("too large")  # leaving the block closes the connection
            return bytes(body)
    except requests.RequestException:
        raise DownloadRefused("download failed") from None
