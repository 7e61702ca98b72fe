"""``python -m codeswarm.hooks CLIENT EVENT``: one hook call (:mod:`codeswarm.hooks.client`).

Hooks run this file by path (``codeswarm.hooks.ENTRY``): kept tiny, since a script is compiled
on every run; its directory is then ``sys.path[0]``, so the client is imported by its top-level
name, from the bytecode cache, without importing the codeswarm package.
"""

import os
import sys

_HERE = os.path.dirname(__file__)
if not __package__ and sys.path and sys.path[0] in (_HERE, os.path.realpath(_HERE)):
    main = __import__("client").main  # this file's directory comes first: the client is ours
else:  # `-m`, or the directory is not on the path (-P, PYTHONSAFEPATH)
    from codeswarm.hooks.client import main

if __name__ == "__main__":
    sys.exit(main())
