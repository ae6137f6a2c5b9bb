// Package webhook turns authenticated CI notifications into deploy requests,
// so a pushed image or a published release deploys without anyone running
// the CLI. It is an http.Handler the daemon mounts under /hooks/ on its TCP
// listener; it knows nothing of the deploy engine, the store or the config:
// it talks to them through the small interfaces Services, Enqueuer and
// Auditor, which the daemon wires.
//
// # Endpoints
//
// All endpoints accept POST only and answer JSON.
//
//	POST /hooks/github/{service}
//	    GitHub webhooks. X-Hub-Signature-256 must be "sha256=" +
//	    hex(HMAC-SHA256(github secret, raw body)). X-GitHub-Event selects:
//	      package, registry_package  action "published": version is the
//	          container tag (package_version.container_metadata.tag.name).
//	          The package must be the service's image: the last path
//	          element always, and the full ghcr.io/<owner>/<name> whenever
//	          the payload carries it. Untagged versions and cosign
//	          artefacts ("sha256-….sig") are ignored.
//	      release  action "published": version is release.tag_name.
//	      deploy   (our own event, sent by a workflow step):
//	          {"version","note","commit","author"}.
//	      ping     answered 200 {"status":"pong"} (signature checked too).
//	      anything else (or another action) is answered 202
//	          {"status":"ignored","reason":…} so GitHub's delivery log
//	          shows why nothing happened.
//	    release and deploy name no image, so they have no repository
//	    check: the per-service secret is what ties them to the service.
//	    X-GitHub-Delivery is the idempotency key.
//
//	POST /hooks/dockerhub/{token}
//	    Docker Hub signs nothing, so the path token is the secret. It is
//	    compared in constant time with every service's token. The payload's
//	    repository.repo_name must be the service's image (Docker Hub
//	    spelling: no registry host, "library/" for official images); the
//	    version is push_data.tag. The idempotency key is derived from
//	    repository, tag and push time.
//
//	POST /hooks/generic/{service}
//	    Any CI. X-Hotswap-Timestamp is unix seconds; X-Hotswap-Signature is
//	    "sha256=" + hex(HMAC-SHA256(generic secret, timestamp + "." + body)).
//	    A timestamp more than Window (default 5m) away from now, in either
//	    direction, is rejected as stale. Body {"version","note","commit",
//	    "author"}. X-Hotswap-Delivery is an optional idempotency key; a
//	    request with the same signature as one already seen in the window
//	    is treated as that delivery whatever its delivery header says, so a
//	    captured request cannot be replayed into a second deploy.
//
// # Order of checks
//
// Nothing happens before every check has passed:
//
//  1. method is POST, else 405 (with Allow: POST);
//  2. body within MaxBody (http.MaxBytesReader), else 413;
//  3. the hook exists, else 404. A hook exists when the service is known
//     and has a secret for that kind; a known service without one looks
//     exactly like an unknown service. Secrets are per service, so the
//     service must be found before there is anything to check; this is the
//     only fact an unauthenticated caller can learn. For Docker Hub the
//     token is the lookup, so a wrong token is also 404, indistinguishable
//     from any other unknown path;
//  4. signature (and, for generic, timestamp) present and valid, else 401;
//  5. delivery id well-formed (at most 128 of [A-Za-z0-9._:-]), else 400;
//  6. JSON well-formed, else 400;
//  7. the payload names the service's image, else 403;
//  8. version present and valid for the service (its version.Validator),
//     else 400;
//  9. Enqueue; its errors map to 404 (ErrUnknownService), 400
//     (version.ErrInvalid), 503 (ErrUnavailable) or 500.
//
// An accepted request is answered 202 {"id":…, "status_url":
// "/v1/deploys/<id>", "duplicate":bool}; duplicate is true when the
// Enqueuer had already seen the delivery id and id is the original deploy.
// Every request, accepted or not, is reported to the Auditor once; entries
// never contain secrets, signatures or the Docker Hub token.
//
// GitHub sends no signed timestamp, so a captured GitHub delivery can be
// replayed under a new delivery id; rotate a secret that may have leaked.
// Payload content is never given to a shell: it only becomes fields of a
// Request, and the version is validated before it goes anywhere.
package webhook
