"""Who may open the page and who may change data: bind rules, the access token, CSRF, headers.

Why each rule exists:

- **Loopback by default.** The page shows everything an agent saved (conversations, tool
  outputs). On 127.0.0.1 only this machine's users reach it. Any other bind address needs a
  token: ``$CHECKPOINT_KV_UI_TOKEN``, else one generated at start and printed once. A request
  carries it as ``?token=`` (the first visit: it becomes a cookie and the URL drops it),
  ``Authorization: Bearer``, or that cookie; it is compared in constant time
  (:func:`hmac.compare_digest`), so its bytes cannot be guessed one by one from timings.
- **Host check on loopback.** A web page on another site can make a browser resolve its own
  name to 127.0.0.1 (DNS rebinding) and read the answers; a ``Host`` that is not a loopback name
  is refused, so that page only ever gets an error.
- **CSRF.** With ``--allow-writes`` a cross-site form could post "delete this thread" with the
  user's cookies. Every write form carries ``HMAC(secret, nonce)`` where the nonce lives in a
  ``SameSite=Strict`` cookie of this server; a post whose field does not match, or whose
  ``Origin`` / ``Sec-Fetch-Site`` says another site sent it, is refused. The secret is made per
  process, so a restart invalidates old forms.
- **Headers.** A strict Content-Security-Policy (no inline script, no other origin: the assets
  ship in the package), no framing, no referrer sent to another site (a token in a URL must not
  leak), no caching of pages that hold user data.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

__all__ = [
    "TOKEN_ENV",
    "Guard",
    "Security",
    "is_loopback",
    "resolve_token",
]

TOKEN_ENV = "CHECKPOINT_KV_UI_TOKEN"
MIN_TOKEN = 16  # characters: a short token from the environment is refused, not trusted

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: with no-referrer a browser posts forms with "Origin: null"
    # and the origin check below could not tell this page from a sandboxed attacker's.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` exposes the page to this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a name that resolves elsewhere, or 0.0.0.0 / :: (every interface)


def resolve_token(
    host: str, env: MutableMapping[str, str] | None = None
) -> tuple[str | None, bool]:
    """The token the server requires, and whether it was generated here (then the caller
    prints it once). ``None`` on loopback without ``$CHECKPOINT_KV_UI_TOKEN``: nothing to ask."""
    env = os.environ if env is None else env
    given = env.get(TOKEN_ENV, "").strip()
    if given:
        if len(given) < MIN_TOKEN:
            from checkpoint_kv.errors import ConfigError

            raise ConfigError(
                f"${TOKEN_ENV} is {len(given)} characters: use at least {MIN_TOKEN} "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        return given, False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(32), True


@dataclass
class Security:
    """What the app enforces: the token (None: none asked), writes allowed, the CSRF secret."""

    token: str | None = None
    allow_writes: bool = False
    loopback: bool = True
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    app_id: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def token_cookie(self) -> str:
        # Cookies are shared by every port of a host: a name per server keeps two apart.
        return f"ckv_token_{self.app_id}"

    @property
    def csrf_cookie(self) -> str:
        return f"ckv_csrf_{self.app_id}"

    def token_ok(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())

    # --- CSRF ---------------------------------------------------------------------------------

    def new_nonce(self) -> str:
        return secrets.token_urlsafe(24)

    def csrf_for(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), "sha256").hexdigest()

    def csrf_ok(self, nonce: str | None, field_value: str | None, headers: dict[str, str]) -> bool:
        """A write's form: its ``csrf`` field signs the cookie's nonce, and the browser does not
        say another site sent it."""
        if not nonce or not field_value:
            return False
        if not hmac.compare_digest(field_value.encode(), self.csrf_for(nonce).encode()):
            return False
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = headers.get("origin")
        host = headers.get("host", "")
        return origin is None or origin in (f"http://{host}", f"https://{host}")


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1"))
    return None


def _cookies(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (_header(scope, b"cookie") or "").split(";"):
        k, sep, v = part.strip().partition("=")
        if sep:
            out[k] = v
    return out


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """ASGI middleware: the host check, the token, and the security headers on every answer."""

    def __init__(self, app: ASGIApp, security: Security) -> None:
        self.app = app
        self.security = security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sec = self.security
        host = _header(scope, b"host") or ""
        if sec.loopback and not is_loopback(_host_name(host)):
            await _plain(send, 400, "this page answers on a loopback address only (Host refused)")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if sec.token is not None:
            auth = _header(scope, b"authorization") or ""
            bearer = auth[7:] if auth.lower().startswith("bearer ") else None
            in_query = query.get("token")
            presented = in_query or bearer or _cookies(scope).get(sec.token_cookie)
            if not sec.token_ok(presented):
                await _plain(
                    send,
                    401,
                    "a token is required: open the URL `checkpoint-kv ui` printed at start "
                    f"(...?token=...), or send Authorization: Bearer <${TOKEN_ENV}>",
                )
                return
            if in_query:  # first visit: keep it in a cookie, drop it from the address bar
                rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
                path = quote(scope.get("root_path", "") + scope["path"])
                location = path + (f"?{rest}" if rest else "")
                cookie = f"{sec.token_cookie}={in_query}; Path=/; HttpOnly; SameSite=Strict"
                await _redirect(send, location, [(b"set-cookie", cookie.encode())])
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(HEADERS)
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"location", location.encode("latin-1")), *extra, *HEADERS]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
