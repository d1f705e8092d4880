"""moto's server answering one request at a time: ``python moto_one_at_a_time.py HOST PORT``.

moto's conditional PutItem reads the stored item, evaluates the condition and then stores the new
item in separate steps without a lock (``Table.put_item`` in moto/dynamodb/models/table.py),
so two concurrent conditional puts of one key can both pass their check and the older one can
land last. DynamoDB applies a conditional write atomically. The push-race tests judge sqlfeast's
newer-wins, not that moto gap, so they run moto's own server application behind one lock: the
same server code and wire protocol, each request handled whole before the next.

moto's dispatcher finds the service of every request anew (for a request to 127.0.0.1 it lists
and stats moto's package directory, a sixth of the server's time per request in a profile of the
race). Here the application it picked for the first request of each ``X-Amz-Target`` service
(``DynamoDB_20120810``) serves the later ones of that service: the same application moto's
dispatcher would pick, found once.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any


def main() -> None:
    """Serve moto on HOST PORT with every request handled under one lock."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    dispatcher = DomainDispatcherApplication(create_backend_app)
    by_target: dict[str, Any] = {}  # X-Amz-Target service -> the application moto picked for it
    lock = threading.Lock()

    def one_at_a_time(environ: dict[str, Any], start_response: Any) -> Any:
        with lock:
            service = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[0]
            app = by_target.get(service) if service else None
            if app is None:
                app = dispatcher.get_application(environ)
                if service:
                    by_target[service] = app
            # The body is produced inside the lock too: moto answers with complete bodies.
            return list(app(environ, start_response))

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request (its cost is the server's)
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
