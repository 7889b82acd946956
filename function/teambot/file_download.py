"""Download one Slack file (`url_private`) with the bot token, safely.

  * The token goes only to Slack's file host (files.slack.com) or, in tests and local runs, the
    host of SLACK_API_URL; any other URL is refused before a connection is made (a file object
    is data from Slack, but the token must never follow a URL we did not expect).
  * url_private needs `Authorization: Bearer <token>` with files:read (Slack Platform Blog,
    "Important Changes to Files in the Web API", 2015); without it Slack redirects to a login
    page. Redirects are not followed (requests would drop the header on another host anyway):
    a redirect or an HTML page instead of the file means "not authorized".
  * The body is streamed and cut at `max_bytes`: a file whose declared size lied, or that grew,
    never ends up whole in memory. The caller already skipped files declared too large.
  * Nothing here logs: URLs, names and content are the user's.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

SLACK_FILE_HOST = "files.slack.com"
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
    parts = urlsplit(url or "")
    if parts.hostname == SLACK_FILE_HOST and parts.scheme == "https" and not parts.port:
        return
    if parts.scheme in ("http", "https") and parts.netloc.lower() in hosts - {SLACK_FILE_HOST}:
        return
    raise DownloadRefused("not on Slack's file host")


def download(
    url: str, token: str, *, hosts: frozenset[str], max_bytes: int, html: bool = False, timeout_s: float = 20.0,
) -> bytes:
    """The file's bytes, at most `max_bytes` (more raises DownloadRefused("too large"))."""
    check_url(url, hosts)
    try:
        with requests.get(
            url, headers={"Authorization": f"Bearer {token}"}, stream=True, allow_redirects=False, timeout=timeout_s,
        ) as response:
            if response.is_redirect or response.status_code in (401, 403):
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
