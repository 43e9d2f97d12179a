# A real OpenID Connect provider for the tests: oidc-provider-mock (PyPI) on
# 127.0.0.1 at the port given (0: a free one), nonces required. Prints the
# port it listens on, then serves until its standard input closes (the test
# that started it ended).
import os
import sys
import threading

os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

import werkzeug.serving  # noqa: E402
from oidc_provider_mock import app  # noqa: E402

server = werkzeug.serving.make_server(
    "127.0.0.1", int(sys.argv[1]), app(require_nonce=True), threaded=True
)
print(server.server_port, flush=True)


def stop_when_orphaned():
    sys.stdin.read()
    os._exit(0)


threading.Thread(target=stop_when_orphaned, daemon=True).start()
server.serve_forever()
