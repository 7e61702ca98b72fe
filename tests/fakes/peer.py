"""A small misbehaving JSON-RPC peer standing in for ``codex app-server`` where the real binary
cannot be made to misbehave on cue. Run as ``python -u peer.py``; it acts on request methods:

- ``echo``: reply with the params.
- ``garbage``: first write junk (not JSON, a JSON array, a reply to no request, a line split
  across two writes, an empty line), then reply.
- ``note_first``: send a notification, then the reply.
- ``ask``: send a server→client request (method from params), read the client's answer, and
  reply with that answer.
- ``flood``: send ``params.n`` small notifications, then reply.
- ``die``: print ``params.stderr`` to stderr and exit with ``params.code`` without replying.
- ``hang``: never reply.
"""

import json
import sys
import time


def send(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        method = msg.get("method")
        params = msg.get("params") or {}
        rid = msg.get("id")
        if rid is None:
            continue  # a notification from the client
        if method == "echo":
            send({"id": rid, "result": params})
        elif method == "garbage":
            sys.stdout.write("this is not json\n[1, 2, 3]\n\n")
            send({"id": 987654, "result": "nobody asked"})
            whole = json.dumps({"method": "test/split", "params": {"ok": True}})
            sys.stdout.write(whole[:7])
            sys.stdout.flush()
            time.sleep(0.05)
            sys.stdout.write(whole[7:] + "\n")
            send({"id": rid, "result": "after garbage"})
        elif method == "note_first":
            send({"method": "test/note", "params": {"for": rid}})
            send({"id": rid, "result": "reply"})
        elif method == "ask":
            send({"id": "srv-1", "method": params["method"], "params": params.get("params", {})})
            answer = json.loads(sys.stdin.readline())
            send({"id": rid, "result": answer})
        elif method == "flood":
            note = '{"method":"test/flood","params":{"i":%d}}\n'
            n = int(params["n"])
            chunk = 1000
            for start in range(0, n, chunk):
                sys.stdout.write("".join(note % i for i in range(start, min(n, start + chunk))))
            sys.stdout.flush()
            send({"id": rid, "result": n})
        elif method == "die":
            sys.stderr.write(params.get("stderr", "") + "\n")
            sys.stderr.flush()
            sys.exit(int(params.get("code", 3)))
        elif method == "hang":
            pass
        else:
            send({"id": rid, "error": {"code": -32600, "message": f"unknown method {method}"}})


if __name__ == "__main__":
    main()
