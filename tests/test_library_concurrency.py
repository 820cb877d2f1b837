"""Two processes writing one library at once lose no update."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from chainmine.library.store.atomic import backup_path
from chainmine.library.store import WorkflowLibrary

WORKER = textwrap.dedent("""
    import sys
    from chainmine.library.builder import WorkflowBuilder
    from chainmine.library.store import WorkflowLibrary

    path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lib = WorkflowLibrary(path)
    print("ready", flush=True)
    sys.stdin.readline()  # both writers start together
    for i in range(count):
        name = f"{prefix}_{i}"
        lib.register(WorkflowBuilder(name).input("x").add_step("s", f"tool_{prefix}", arg="{{x}}").build())
        lib.edit(name, description=f"edited by {prefix}", options={"s": {"max_retries": i % 5}})
    print("done", flush=True)
""")


def test_two_processes_adding_and_editing_100_workflows_each_keep_all_200_changes(tmp_path):
    path = tmp_path / "workflows.json"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), prefix, "100"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for prefix in ("left", "right")]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert out.strip() == "done"

    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 1
    workflows = WorkflowLibrary(path).list_all()
    assert len(workflows) == 200
    for prefix in ("left", "right"):
        mine = {w.name: w for w in workflows if w.name.startswith(prefix + "_")}
        assert len(mine) == 100
        assert all(w.version == 2 and w.description == f"edited by {prefix}" for w in mine.values())
        assert all(w.step("s").max_retries == int(n.rsplit("_", 1)[1]) % 5 for n, w in mine.items())
    # the backup is the state just before the last write: valid, one edit behind
    previous = WorkflowLibrary(backup_path(path)).list_all()
    assert len(previous) == 200 and sum(w.version == 1 for w in previous) == 1
