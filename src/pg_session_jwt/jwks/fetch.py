"""Fetch a provider's JWKS over HTTPS, refusing anything a key set should not be.

A key set decides who may log in, so the response must come over verified
TLS (plain HTTP only from this machine's loopback, when asked), in time,
small (1 MiB at most), as JSON: an HTML error page, a captive portal or a
slow drip is an error, never a set.  Redirects are followed only to URLs
that pass the same checks.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

MAX_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 10.0
JSON_TYPES = ("application/json", "application/jwk-set+json")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.I)


class FetchError(Exception):
    """The response cannot be a key set; the message says why."""


@dataclass
class Fetched:
    url: str
    text: str
    max_age: Optional[int]  # from Cache-Control, when the provider says how long the set stays fresh


def _is_loopback(host: Optional[str]) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_http: bool = False) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and allow_http and _is_loopback(parts.hostname):
        return
    if parts.scheme == "http":
        raise FetchError(f"refusing plain HTTP for {url}: use https:// (http:// only for a loopback address,"
                         " with --allow-http)")
    raise FetchError(f"not an https:// URL: {url}")


def max_age(cache_control: Optional[str]) -> Optional[int]:
    """Seconds from ``Cache-Control: max-age``; 0 for ``no-store``/``no-cache``; None when unsaid."""
    if not cache_control:
        return None
    if re.search(r"(?:^|,)\s*no-(?:store|cache)\s*(?:,|$)", cache_control, re.I):
        return 0
    found = _MAX_AGE.search(cache_control)
    return int(found.group(1)) if found else None


def _opener(context: ssl.SSLContext, allow_http: bool) -> urllib.request.OpenerDirector:
    class CheckedRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            check_url(newurl, allow_http)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), CheckedRedirects())


def fetch(url: str, timeout: float = DEFAULT_TIMEOUT, cafile: Optional[str] = None,
          allow_http: bool = False) -> Fetched:
    """The JWKS text at ``url``; :class:`FetchError` for anything unusable.

    ``timeout`` bounds the whole exchange, not only each socket operation.
    ``cafile`` replaces the system's trusted CAs (for a private CA).
    """
    check_url(url, allow_http)
    deadline = time.monotonic() + timeout
    context = ssl.create_default_context(cafile=cafile)
    request = urllib.request.Request(url, headers={"Accept": "application/json, application/jwk-set+json"})
    try:
        with _opener(context, allow_http).open(request, timeout=timeout) as response:
            media_type = (response.headers.get_content_type() or "").lower()
            if media_type not in JSON_TYPES and not media_type.endswith("+json"):
                raise FetchError(f"{url} answered with {media_type!r}, not JSON")
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MAX_BYTES:
                raise FetchError(f"{url} sends {int(length)} bytes; a key set may have at most {MAX_BYTES}")
            body = bytearray()
            while len(body) <= MAX_BYTES:
                if time.monotonic() > deadline:
                    raise FetchError(f"{url} timed out after {timeout:g} s")
                chunk = response.read1(64 * 1024)
                if not chunk:
                    break
                body += chunk
            if len(body) > MAX_BYTES:
                raise FetchError(f"{url} sends more than {MAX_BYTES} bytes; a key set may have at most that")
            cache_control = response.headers.get("Cache-Control")
    except urllib.error.HTTPError as e:
        raise FetchError(f"{url} answered HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ssl.SSLError):
            raise FetchError(f"TLS failed for {url}: {getattr(reason, 'verify_message', None) or reason}") from None
        if isinstance(reason, socket.timeout):
            raise FetchError(f"{url} timed out after {timeout:g} s") from None
        raise FetchError(f"cannot fetch {url}: {reason}") from None
    except socket.timeout:
        raise FetchError(f"{url} timed out after {timeout:g} s") from None
    except ssl.SSLError as e:
        raise FetchError(f"TLS failed for {url}: {e}") from None
    except (OSError, http.client.HTTPException) as e:
        raise FetchError(f"cannot fetch {url}: {e!r}") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FetchError(f"{url} sent a body that is not UTF-8") from None
    return Fetched(url, text, max_age(cache_control))
