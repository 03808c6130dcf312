"""The controller's HTTP API v1 (docs/api.md): served by the controller daemon
(zerodown/daemon/) on a unix socket, and on TCP with a bearer token.

    server.py   the HTTP servers (unix socket, TCP) and the request handler
    routes.py   which handler answers which method and path
    auth.py     tokens: create, list, revoke, verify (only hashes are stored)
    sse.py      the Server-Sent Events stream
    openapi.py  the OpenAPI 3.1 document (openapi_schemas.py: the answers' shapes)
    client.py   the CLI's side: a small http.client wrapper (imports nothing heavy)
"""
