"""The Gradio demo of a run folder: `python demo/app.py [--run DIR] [--host H] [--port P]`.

The same as `python -m kerasclf.demo`; see kerasclf/demo.py for the app and its API
(/classify, /classify_batch). With no --run it serves the newest finished run under runs/.
"""

import sys

from kerasclf.demo import main

if __name__ == "__main__":
    sys.exit(main())
