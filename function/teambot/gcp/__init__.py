"""teambot.gcp: Google Cloud from the function, over its REST APIs on http.client: the access token
(token.py: the metadata server on Cloud Run, google-auth elsewhere), keep-alive REST calls
(rest.py) and the secrets (secret_rest.py for reads someone waits on, secret_client.py for
background re-reads, secret_store.py for caching, TTL and rotation).

May import: teambot.core. Google's client libraries only inside functions, off the ack path."""
