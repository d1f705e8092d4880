"""moto's server answering one request at a time: ``python moto_one_at_a_time.py HOST PORT``.

moto's conditional PutItem reads the stored item, evaluates the condition and then stores the new
item in separate steps without a lock (``Table.put_item`` in moto/dynamodb/models/table.py),
so two concurrent conditional puts of one key can both pass their check and the older one can
land last. DynamoDB applies a conditional write atomically. The push-race tests judge sqlfeast's
newer-wins, not that moto gap, so they run moto's own server application behind one lock: the
same server code and wire protocol, each request handled whole before the next.
"""

from __future__ import annotations

import sys
import threading
from typing import Any


def main() -> None:
    """Serve moto on HOST PORT with every request handled under one lock."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ: dict[str, Any], start_response: Any) -> Any:
        with lock:
            # The body is produced inside the lock too: moto answers with complete bodies.
            return list(app(environ, start_response))

    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
