"""The running demo: shared by the demo and browser tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def running_demo(synth, tmp_path_factory):
    """The demo on 127.0.0.1 with a free port, its own temp folder, concurrency 1 and a queue
    of 16, as `echovox demo` launches it."""
    import os

    from echovox.app.demo import DemoConfig, launch

    saved = {k: os.environ.get(k) for k in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    temp = tmp_path_factory.mktemp("gradio")
    demo = launch(synth, port=None, block=False, config=DemoConfig(temp_dir=str(temp)))
    demo.echovox_temp_dir = temp
    yield demo
    demo.close()
    for k, v in saved.items():  # launch() sets these for its process; leave others' tests alone
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
