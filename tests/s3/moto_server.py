"""An S3-compatible server on loopback for alchemy-ci's tests: moto's own
WSGI app, with three things the tests need and moto_server does not do.

- Requests are handled one at a time (a lock around the app). moto checks
  `If-Match` / `If-None-Match` and then writes, in two steps, on whatever
  thread werkzeug gave the request; two racing conditional writes can both
  pass the check. Real S3, R2 and MinIO decide a conditional write
  atomically, so the lock makes moto behave like them under concurrency.
- Authentication is on: an IAM user with an access key that may do s3:*
  is made in-process before the first request, every request's SigV4
  signature is checked, and an unknown key or a wrong secret gets 403.
- Every request is counted (method, path, query) so a test can see what a
  store operation cost; `GET /_alchemy_ci/requests` returns the log as JSON
  lines and `DELETE /_alchemy_ci/requests` clears it. These paths never
  reach moto.

Usage: python moto_server.py BUCKET [BUCKET...]
Prints one JSON line {"port", "access_key_id", "secret_access_key"} on
stdout when it listens on 127.0.0.1 (a free port), then serves until killed
or until its stdin closes (so a crashed test run leaves no server behind).
"""

import json
import os
import sys
import threading

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")

from werkzeug.serving import make_server  # noqa: E402

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.iam.models import iam_backends  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    create_backend_app,
)
from moto.s3.models import s3_backends  # noqa: E402

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)


def main() -> None:
    buckets = sys.argv[1:]
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    iam.create_user("us-east-1", "alchemy-ci-test")
    iam.put_user_policy("alchemy-ci-test", "s3", POLICY)
    key = iam.create_access_key("alchemy-ci-test")
    s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for b in buckets:
        s3.create_bucket(b, "us-east-1")

    moto_app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    log: list[str] = []

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_alchemy_ci/requests":
            with lock:
                if environ["REQUEST_METHOD"] == "DELETE":
                    log.clear()
                body = "".join(line + "\n" for line in log).encode()
            start_response(
                "200 OK",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
            )
            return [body]
        with lock:
            log.append(
                json.dumps(
                    {
                        "method": environ["REQUEST_METHOD"],
                        "path": path,
                        "query": environ.get("QUERY_STRING", ""),
                    }
                )
            )
            # The whole response is produced under the lock.
            return list(moto_app(environ, start_response))

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(
        json.dumps(
            {
                "port": server.server_port,
                "access_key_id": key.access_key_id,
                "secret_access_key": key.secret_access_key,
            }
        ),
        flush=True,
    )

    def watch_stdin() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
