# Run on the unix port by test_setup_save.py and test_setup_check.py: the setup page's checks and
# its save (portal/check.py, portal/save.py) from .mpy, in the heap the test gives, one after
# another as the setup server calls them. Prints one result line per step, then the heap.
#
#   micropython mp_setup_steps.py save CFG VALUES.json
#   micropython mp_setup_steps.py wifi SSID PASSWORD
#   micropython mp_setup_steps.py all CFG VALUES.json     (telegram, model, then save)
#   micropython mp_setup_steps.py checks CFG VALUES.json  (telegram and model only)
import gc
import json
import sys

from picoclaw import load, unload

base = [k for k in sys.modules]  # what the steps must leave as they found it
what = sys.argv[1]
if what == "wifi":
    print("wifi:", load("picoclaw.portal.check").wifi(sys.argv[2], sys.argv[3], 2000))
    sys.exit(0)
cfg_path = sys.argv[2]
with open(sys.argv[3]) as f:
    values = json.load(f)
if what == "all" or what == "checks":
    old = load("picoclaw.config").load(cfg_path)  # as the server reads it
    unload("picoclaw.config", "picoclaw.json.stream", "picoclaw.json.scan")
    gc.collect()
    chk = load("picoclaw.portal.check")
    name, line = chk.telegram(values["token"], old)
    print("telegram:", name, line)
    print("model:", chk.model(values["provider"], values["api_base"], values["api_key"], values["model"], old))
    chk = None
    unload("picoclaw.portal.check")
sv = load("picoclaw.portal.save") if what != "checks" else None
try:
    if sv:
        sv.write(cfg_path, values)
        print("saved")
except ValueError as e:
    print("refused:", e)
sv = None
unload("picoclaw.portal.save")
# modules left loaded (namespace packages aside: an empty module each)
left = [k for k in sys.modules if k not in base and k.startswith("picoclaw.") and k not in
        ("picoclaw.portal", "picoclaw.net", "picoclaw.json", "picoclaw.llm", "picoclaw.agent", "picoclaw.cmd")]
print("left loaded:", sorted(left))
gc.collect()
print("heap: free %d used %d" % (gc.mem_free(), gc.mem_alloc()))
