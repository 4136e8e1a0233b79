# `picoclaw onboard --config FILE`: a starter config.json and workspace (files never overwritten).
#
# The config is PicoClaw's shape with empty secrets to fill in; the workspace holds the files
# the system prompt is built from (each read with its own cap: see agent.py) and the
# long-term memory file the model keeps.
import os

from .state import makedirs

_CONFIG = """{
  "channels": {"telegram": {"token": "", "allow_from": [], "poll_timeout": 30}},
  "providers": {"openai": {"api_key": "", "api_base": "https://api.openai.com/v1"}},
  "agents": {"defaults": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 1024,
                          "temperature": 0.7, "max_tool_iterations": 5, "workspace": "%s"}},
  "heartbeat": {"enabled": false, "interval": 30},
  "wifi": {"ssid": "", "password": ""}
}
"""

_FILES = (
    ("AGENTS.md", "# How to work\n\n- Answer briefly: the owner reads you on a phone.\n"
                  "- Use your tools when a question needs facts you do not have.\n"
                  "- Keep durable facts about the owner in memory/MEMORY.md.\n"),
    ("SOUL.md", "# Personality\n\nFriendly, direct, a little playful. Honest about limits: you are "
                "a small assistant on a microcontroller.\n"),
    ("USER.md", "# The owner\n\n(Name, language, time zone, what they care about. Edit me.)\n"),
    ("IDENTITY.md", "# Identity\n\nName: PicoClaw. You live on a MicroPython board and talk "
                    "through Telegram.\n"),
    ("HEARTBEAT.md", ""),
    ("memory/MEMORY.md", "# Long-term memory\n\n"),
)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def onboard(config_path, workspace):
    """Write what is missing; returns the list of paths written."""
    written = []
    if not _exists(config_path):
        i = config_path.rfind("/")
        if i > 0:
            makedirs(config_path[:i])
        with open(config_path, "w") as f:
            f.write(_CONFIG % workspace)
        written.append(config_path)
    for name, text in _FILES:
        path = "%s/%s" % (workspace, name)
        if _exists(path):
            continue
        i = path.rfind("/")
        makedirs(path[:i])
        with open(path, "w") as f:
            f.write(text)
        written.append(path)
    return written


def main(path):
    from . import config

    try:
        ws = config.load(path).workspace
    except config.ConfigError as e:
        if "cannot open" not in str(e):
            raise
        i = path.rfind("/")
        ws = "%s/workspace" % ("." if i < 0 else (path[:i] or ""))
    for p in onboard(path, ws):
        print("wrote %s" % p)
    print("next: put your bot token (from @BotFather), your Telegram id and your model's API key "
          "in %s, then run the gateway" % path)
    return 0
