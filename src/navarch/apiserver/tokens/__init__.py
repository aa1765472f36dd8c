"""Service-account tokens: signed JWTs issued through the TokenRequest API and checked on every request.

``jwt`` signs and verifies (keys, algorithms, key ids), ``claims`` says what a token asserts and
builds upstream's bound-token claims, ``authenticator`` turns a bearer token into a user (checking
the bound objects in the watch cache), ``tokenrequest`` answers ``serviceaccounts/token``. Only the
API server imports this package.
"""
