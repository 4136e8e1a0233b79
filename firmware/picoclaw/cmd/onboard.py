# `picoclaw onboard --config FILE`: a starter config.json and workspace (files never overwritten).
#
# The config is PicoClaw's current format (version 3: channel_list, model_list, agents.defaults
# .model_name) with empty secrets to fill in, written with mode 0600 (it will hold the bot
# token and the API key; a board's file system has no modes); the workspace holds the files
# the system prompt is built from (each read with its own cap: see agent/request.py), the
# long-term memory file the model keeps, and one example skill (skills/<name>/SKILL.md with
# PicoClaw's front matter: agent/context.py lists it in the prompt, the model reads the rest).
import os

from picoclaw.state import makedirs

_CONFIG = """{
  "version": 3,
  "channel_list": {
    "telegram": {
      "enabled": true,
      "type": "telegram",
      "allow_from": [],
      "settings": {"token": "", "base_url": "https://api.telegram.org", "poll_timeout": 30}
    }
  },
  "model_list": [
    {"model_name": "gpt-4o-mini", "model": "openai/gpt-4o-mini", "api_keys": [""],
     "api_base": "https://api.openai.com/v1"}
  ],
  "agents": {
    "defaults": {"model_name": "gpt-4o-mini", "max_tokens": 1024, "temperature": 0.7,
                 "max_tool_iterations": 5, "max_calls_per_hour": 60, "max_calls_per_day": 500,
                 "timezone": "", "workspace": "%s"}
  },
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
# apart from _FILES, which tools/flash.py copies to a board as they are (test_deploy)
_SKILLS = (
    ("skills/weather/SKILL.md",
     "---\nname: weather\ndescription: Current weather and a short forecast for a place, from "
     "wttr.in (no key needed).\n---\n# Weather\n\n"
     "1. The place: the one asked about, else the owner's city from USER.md; ask if neither.\n"
     "2. Now: web_fetch https://wttr.in/PLACE?format=%l:+%c+%t+(feels+%f),+wind+%w,+humidity+%h "
     "(one line; spaces in PLACE as +).\n"
     "3. A forecast: web_fetch https://wttr.in/PLACE?format=j1 with max_chars 3000 and read "
     "weather[0..2]: date, mintempC, maxtempC, hourly[4].weatherDesc.\n"
     "4. Answer in one or two lines, in the owner's units (USER.md); say the data is from wttr.in.\n"),
)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _private(path):
    # mode 0600: CPython has os.chmod, the unix port only os.system (a board has neither,
    # and no file modes)
    if hasattr(os, "chmod"):
        os.chmod(path, 0o600)
    elif hasattr(os, "system"):
        os.system("chmod 600 '%s'" % path.replace("'", "'\\''"))


def onboard(config_path, workspace):
    """Write what is missing; returns the list of paths written."""
    written = []
    if not _exists(config_path):
        i = config_path.rfind("/")
        if i > 0:
            makedirs(config_path[:i])
        # the workspace as the config names it: relative paths are the config's folder's
        here = config_path[:config_path.rfind("/") + 1]
        rel = workspace[len(here):] if here and workspace.startswith(here) else workspace
        with open(config_path, "w") as f:
            _private(config_path)  # while it is still empty
            f.write(_CONFIG % rel)
        written.append(config_path)
    for name, text in _FILES + _SKILLS:
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
    from picoclaw import config

    try:
        ws = config.load(path).workspace
    except config.ConfigError as e:
        if "cannot open" not in str(e):
            raise
        i = path.rfind("/")
        ws = "%s/workspace" % ("." if i < 0 else (path[:i] or ""))
    for p in onboard(path, ws):
        print("wrote %s" % p)
    print("next: in %s put your bot token (from @BotFather) in channel_list.telegram.settings.token "
          "and your model's API key in model_list's api_keys (or remove model_list for an echo bot); "
          "then `status` checks it" % path)
    return 0
