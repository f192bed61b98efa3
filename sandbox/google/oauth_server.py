"""The sandbox's OAuth 2.0 authorization server (Google's endpoints, one host).

The protocol is the shared one (``sandbox.common.oauth``); Google's parts
are in ``sandbox.google.authority``. What a client sees:

* ``GET /o/oauth2/v2/auth`` validates the request like Google: an unknown
  client or a redirect URI that does not match a registered one *exactly* is
  answered with an error page and never redirected; otherwise a consent page
  lists the requested scopes (each a checkbox, as Google's granular consent)
  and a choice of sandbox account (``login_hint`` preselects one).
* ``POST /o/oauth2/v2/auth/consent`` is the page's form: "Allow" redirects to
  ``redirect_uri?state=…&code=…&scope=…``, "Cancel" to ``?error=access_denied``.
* ``POST /token``: ``authorization_code`` (PKCE S256/plain checked) and
  ``refresh_token`` grants; client authentication by HTTP Basic or form fields.
* ``POST /revoke``: revokes the grant of an access or refresh token.
"""

from __future__ import annotations

from starlette.routing import Route

from sandbox.common.oauth_routes import ConsentPage, OAuthPaths, oauth_routes
from sandbox.google.authority import scope_label
from sandbox.google.state import GoogleSandboxState

AUTH_PATH = "/o/oauth2/v2/auth"
CONSENT_PATH = "/o/oauth2/v2/auth/consent"
TOKEN_PATH = "/token"
REVOKE_PATH = "/revoke"

PATHS = OAuthPaths(
    authorize=AUTH_PATH, consent=CONSENT_PATH, token=TOKEN_PATH, revoke=REVOKE_PATH
)
LOOK = ConsentPage(
    title="Sign in with Google (sandbox)",
    intro="<p><strong>{client}</strong> wants to access your Google Account.</p>",
    scope_label=scope_label,
    tickable=True,
)


def google_oauth_routes(state: GoogleSandboxState) -> list[Route]:
    return oauth_routes(state.authority, PATHS, LOOK)
