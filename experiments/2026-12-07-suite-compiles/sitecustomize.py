"""Loaded by every Python process whose PYTHONPATH holds this folder (the suite's CLI subprocesses inherit it):
appends each JAX compile / trace / lowering / persistent-cache event, with the pytest test that was running
(PYTEST_CURRENT_TEST, inherited by subprocesses), to $JAXMON_LOG (default /tmp/jaxmon/events.jsonl). The
listener is registered on the first import after jax._src.monitoring is loaded (an audit hook), so a process
that never imports jax pays one dictionary lookup per import."""
import json
import os
import sys

_LOG = os.environ.get("JAXMON_LOG", "/tmp/jaxmon/events.jsonl")
_state = {"done": False}

def _write(rec):
    rec["test"] = os.environ.get("PYTEST_CURRENT_TEST", "")
    rec["pid"] = os.getpid()
    os.makedirs(os.path.dirname(_LOG), exist_ok=True)
    with open(_LOG, "a") as f:
        f.write(json.dumps(rec) + "\n")

def _listener(event, duration, **kw):
    if event.startswith("/jax/core/compile/") or event.startswith("/jax/compilation_cache/"):
        _write({"event": event, "s": duration, "fun": kw.get("fun_name", "")})

def _hook(name, args):
    if _state["done"] or name != "import":
        return
    m = sys.modules.get("jax._src.monitoring")
    if m is not None and hasattr(m, "register_event_duration_secs_listener"):
        _state["done"] = True
        m.register_event_duration_secs_listener(_listener)

sys.addaudithook(_hook)

