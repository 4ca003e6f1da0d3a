"""What `tpo run` has built is left out of later garbage collections (a child process: freezing is
for the life of a process, and the test process goes on to build and drop many engines)."""

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent("""
    import gc
    from engine.service.assembly import keep_startup_objects_out_of_collections
    scanned_before = len(gc.get_objects())
    keep_startup_objects_out_of_collections()
    print(gc.get_freeze_count(), scanned_before, len(gc.get_objects()))
""")


def test_the_engine_s_startup_objects_are_frozen_out_of_collections():
    frozen, scanned_before, scanned_after = map(int, subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split())
    assert frozen > 10_000  # the engine's modules, SQLAlchemy's and Twisted's among them
    assert scanned_after < scanned_before / 10
