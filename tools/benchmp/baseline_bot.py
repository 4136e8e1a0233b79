# The comparison bot for tools/bench.py: a Telegram bot written the way existing MicroPython
# Telegram bots are (micropython-lib `requests`, a new connection per call, `json.loads` of
# every whole body, the history kept in a list in RAM). Not part of the firmware.
#
#   micropython -X heapsize=N baseline_bot.py CONFIG.json
# CONFIG: {"base_url", "token", "polls", "limit", "llm": {"url", "key", "model"} or null,
#          "sample": bool}. Prints "FIGURES baseline=.. end=.." like the gateway, and with
# "sample" a "HEAP ms bytes" line (live heap after a collection) before every HTTP call.
import gc
import json
import os
import sys
import time

import requests

cfg = json.load(open(sys.argv[1]))
base = cfg["base_url"] + "/bot" + cfg["token"] + "/"
llm = cfg.get("llm")
sample = cfg.get("sample")
t0 = time.ticks_ms()
history = []  # what a naive agent does: every turn kept, sent whole each time

TOOLS = [
    {"type": "function", "function": {"name": "get_time", "description": "Current date and time",
                                      "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "list_dir", "description": "List a folder",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
]


def post(url, body, headers=None):
    if sample:
        gc.collect()
        print("HEAP %d %d" % (time.ticks_diff(time.ticks_ms(), t0), gc.mem_alloc()))
    r = requests.post(url, json=body, headers=headers or {})
    data = r.json()  # the whole body in RAM, then the whole tree
    r.close()
    return data


def run_tool(name, args):
    if name == "get_time":
        return "%d-%02d-%02dT%02d:%02d:%02dZ" % time.gmtime()[:6]
    if name == "list_dir":
        return "\n".join(os.listdir(args.get("path") or "."))
    return "unknown tool"


def think(text):
    history.append({"role": "user", "content": text})
    for _ in range(5):
        data = post(llm["url"], {"model": llm["model"], "messages": history, "tools": TOOLS,
                                 "max_tokens": 512},
                    {"Authorization": "Bearer " + llm["key"]})
        msg = data["choices"][0]["message"]
        history.append({k: v for k, v in msg.items() if k in ("role", "content", "tool_calls")})
        calls = msg.get("tool_calls")
        if not calls:
            return msg.get("content") or ""
        for c in calls:
            fn = c["function"]
            history.append({"role": "tool", "tool_call_id": c["id"],
                            "content": run_tool(fn["name"], json.loads(fn["arguments"] or "{}"))})
    return "too many tool steps"


def main():
    gc.collect()
    start = gc.mem_alloc()
    offset = 0
    for _ in range(cfg["polls"]):
        data = post(base + "getUpdates", {"offset": offset, "limit": cfg["limit"], "timeout": 0})
        for u in data["result"]:
            offset = u["update_id"] + 1
            m = u.get("message")
            if not m or "text" not in m:
                continue
            text = think(m["text"]) if llm else m["text"]
            for i in range(0, len(text), 4096):  # Telegram's limit per message
                post(base + "sendMessage", {"chat_id": m["chat"]["id"], "text": text[i:i + 4096]})
        data = None
    gc.collect()
    print("FIGURES baseline=%d end=%d handshakes=0" % (start, gc.mem_alloc()))


main()
